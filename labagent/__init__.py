"""malloc-lab's agent: runs the malloc/touch experiment on one Linux host and captures everything."""

__version__ = "0.1.0"
