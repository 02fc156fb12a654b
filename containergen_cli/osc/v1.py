"""`openstack containergen image ...` commands: the same options, code and output as the containergen command.

Errors are one line (CommandError, exit 1); an interrupt ends the command with 128 + the signal
(130 SIGINT, 143 SIGTERM), as `containergen` does."""

from __future__ import annotations

import signal
import sys

from osc_lib import exceptions
from osc_lib.command import command

from containergen_cli import core, export, main


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
            summary = type(self).action(parsed_args, sys.stdout, sys.stderr)
        except core.Interrupted as exc:
            sys.stderr.write("interrupted\n")
            raise SystemExit(exc.exit_code)
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            raise SystemExit(128 + signal.SIGINT)
        except core.CLIError as exc:
            raise exceptions.CommandError(str(exc))
        except Exception as exc:  # pylint: disable=broad-except
            raise exceptions.CommandError(main._one_line(exc))  # pylint: disable=protected-access
        main._print_summary(summary, parsed_args, sys.stdout)  # pylint: disable=protected-access


class Build(_Base):
    """Build container images from TCIB-style definitions (flags follow `openstack tripleo container image build`)."""
    adder = staticmethod(core.add_build_arguments)
    action = staticmethod(main.build)


class Plan(_Base):
    """Validate the definitions and print the build plan."""
    adder = staticmethod(core.add_image_arguments)
    action = staticmethod(main.plan)


class Publish(_Base):
    """Publish built images with tag revisions and write the lock file."""
    adder = staticmethod(core.add_publish_arguments)
    action = staticmethod(main.publish)


class Export(_Base):
    """Deploy-tool parameters (tripleo, kolla-ansible) pinning the published set, from the lock file."""
    adder = staticmethod(lambda parser: export.add_arguments(parser, core.stage_options().WORK_DIR))
    action = staticmethod(main.do_export)


def _with_image(parser):
    parser.add_argument("image", help="image name, such as keystone")
    core.add_image_arguments(parser)


class _Guarded(object):
    """take_action's errors as in _Base: one line, exit 1; an interrupt: 130/143."""

    @staticmethod
    def guarded(call, parsed_args):
        try:
            return call(parsed_args, sys.stdout, sys.stderr)
        except core.Interrupted as exc:
            sys.stderr.write("interrupted\n")
            raise SystemExit(exc.exit_code)
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            raise SystemExit(128 + signal.SIGINT)
        except core.CLIError as exc:
            raise exceptions.CommandError(str(exc))
        except Exception as exc:  # pylint: disable=broad-except
            raise exceptions.CommandError(main._one_line(exc))  # pylint: disable=protected-access


class List(command.Lister, _Guarded):
    """Images of the definitions tree: parent and local status (-f json|yaml|table|value)."""
    auth_required = False
    COLUMNS = ("name", "parent", "status", "ref")

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        try:
            core.add_image_arguments(parser)
        except core.CLIError as exc:
            raise exceptions.CommandError(str(exc))
        return parser

    def take_action(self, parsed_args):
        result = self.guarded(main.COMMANDS["list"], parsed_args)
        return self.COLUMNS, [tuple(item[key] or "" for key in self.COLUMNS) for item in result["images"]]


class Show(_Base):
    """A local image: reference, ID, size, labels and its packages."""
    adder = staticmethod(_with_image)
    action = staticmethod(main.COMMANDS["show"])


class Render(_Base):
    """The Containerfile of an image (what --engine docker builds)."""
    adder = staticmethod(_with_image)
    action = staticmethod(main.COMMANDS["render"])
