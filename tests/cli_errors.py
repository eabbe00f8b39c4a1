"""The product's rule on bad input, as tests check it: one error line, no traceback."""


def one_error_line(capsys, *fragments) -> str:
    """The captured stderr of a failed ``main([...])`` call, asserted to be exactly one
    ``ofa-mcu: error: ...`` line without a traceback that holds every fragment."""
    err = capsys.readouterr().err
    assert err.startswith("ofa-mcu: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in err, err
    return err
