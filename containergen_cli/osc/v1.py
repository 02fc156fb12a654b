"""`openstack containergen image ...` commands: the same options and code as the containergen command."""

from __future__ import annotations

import sys

from osc_lib import exceptions
from osc_lib.command import command

from containergen_cli import core
from containergen_cli.main import _print_summary


class _Base(command.Command):
    auth_required = False
    adder = None
    action = None

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        try:
            type(self).adder(parser)
        except core.CLIError as exc:  # the collection is not installed: its defaults are unknown
            raise exceptions.CommandError(str(exc))
        return parser

    def take_action(self, parsed_args):
        try:
            summary = type(self).action(parsed_args, sys.stdout)
        except core.CLIError as exc:
            raise exceptions.CommandError(str(exc))
        _print_summary(summary, parsed_args, sys.stdout)


class Build(_Base):
    """Build container images from TCIB-style definitions (flags follow `openstack tripleo container image build`)."""
    adder = staticmethod(core.add_build_arguments)
    action = staticmethod(core.build)


class Plan(_Base):
    """Validate the definitions and print the build plan."""
    adder = staticmethod(core.add_image_arguments)
    action = staticmethod(core.plan)


class Publish(_Base):
    """Publish built images with tag revisions and write the lock file."""
    adder = staticmethod(core.add_publish_arguments)
    action = staticmethod(core.publish)
