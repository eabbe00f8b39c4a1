"""ofa-mcu: a Once-for-All supernet compiled into microcontroller firmware."""
__version__ = "0.1.0"
