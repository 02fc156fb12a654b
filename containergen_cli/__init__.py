"""containergen: command line and OpenStack client plugin for the containergen.images collection."""

__version__ = "0.1.0"
