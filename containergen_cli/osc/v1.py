"""`openstack containergen image ...` commands: the same options, code and checks as the containergen command.

Verbs whose result is a table or a record are cliff Listers and ShowOnes (`-f json|yaml|table|value|csv`,
`-c COLUMN`; --json is `-f json`); build, graph, render and export print what `containergen` prints.
Errors are one line on stderr (exit 1, bad usage 2); with `-f json`/--json, stdout holds one JSON document
then too ({"error", "exit_code"}). An interrupt ends the command with 128 + the signal (130, 143)."""

from __future__ import annotations

import json
import signal
import sys
import typing as t

from cliff import columns as cliff_columns
from osc_lib import exceptions
from osc_lib.command import command

from containergen_cli import core, export, main, registry_verbs, views


class MappingColumn(cliff_columns.FormattableColumn):
    """A mapping (labels, packages): one KEY=VALUE a line in a table, the mapping itself in json/yaml."""

    def human_readable(self):
        return "\n".join("%s=%s" % item for item in sorted((self._value or {}).items()))

    def machine_readable(self):
        return dict(self._value or {})


class ListColumn(cliff_columns.FormattableColumn):
    def human_readable(self):
        return ", ".join(str(item) for item in self._value or [])

    def machine_readable(self):
        return list(self._value or [])


class RecordsColumn(cliff_columns.FormattableColumn):
    """A list of records (layers, revisions): one record a line in a table, the records in json/yaml."""

    def human_readable(self):
        return "\n".join(" ".join("%s=%s" % (key, "" if value is None else value) for key, value in sorted(item.items()))
                         for item in self._value or [])

    def machine_readable(self):
        return [dict(item) for item in self._value or []]


def _wants_json(parsed_args: t.Any) -> bool:
    return bool(getattr(parsed_args, "json", False)) or getattr(parsed_args, "formatter", None) == "json"


def run_guarded(action: t.Callable[..., t.Dict[str, t.Any]], parsed_args: t.Any) -> t.Dict[str, t.Any]:
    """action's result; its errors as the containergen command reports them: one line on stderr (a bad
    usage exits 2, other failures 1 through CommandError), the error document on stdout for json."""
    try:
        return action(parsed_args, sys.stdout, sys.stderr)
    except (core.Interrupted, KeyboardInterrupt) as exc:
        code = exc.exit_code if isinstance(exc, core.Interrupted) else 128 + signal.SIGINT
        message, error = "interrupted", None
    except core.CLIError as exc:
        code, message, error = getattr(exc, "exit_code", main.EXIT_FAILED), str(exc), exc
    except Exception as exc:  # pylint: disable=broad-except
        code, message, error = main.EXIT_FAILED, main._one_line(exc), exc  # pylint: disable=protected-access
    if _wants_json(parsed_args):
        sys.stdout.write(json.dumps({"error": message, "exit_code": code}, sort_keys=True) + "\n")
    if code != main.EXIT_FAILED:  # usage (2) and interrupts: their own exit status, one line
        sys.stderr.write(message + "\n")
        raise SystemExit(code)
    raise exceptions.CommandError(message) from error


def _add(adder: t.Callable[[t.Any], None], parser: t.Any) -> t.Any:
    try:
        adder(parser)
    except core.CLIError as exc:  # the collection is not installed: its defaults are unknown
        raise exceptions.CommandError(str(exc))
    return parser


class _Verb(object):
    """What every command shares: no Keystone, the containergen options, the guarded action."""

    auth_required = False
    adder: t.Callable[[t.Any], None]
    action: t.Callable[..., t.Dict[str, t.Any]]

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)  # pylint: disable=no-member
        if isinstance(self, command.ShowOne):
            # ShowOne's shell formatter has a --prefix of its own: the image name --prefix (tripleoclient's)
            # wins; the groups hold the handler their options are checked with
            for container in [parser] + parser._action_groups:  # pylint: disable=protected-access
                container.conflict_handler = "resolve"
        return _add(type(self).adder, parser)

    def result(self, parsed_args):
        if getattr(parsed_args, "json", False) and hasattr(parsed_args, "formatter"):
            parsed_args.formatter = "json"  # --json of the containergen command: -f json
        return run_guarded(type(self).action, parsed_args)


class _Printing(_Verb, command.Command):
    """Prints what `containergen` prints (the table, or one JSON document with --json)."""

    def take_action(self, parsed_args):
        main._print_summary(self.result(parsed_args), parsed_args, sys.stdout)  # pylint: disable=protected-access


class _Listing(_Verb, command.Lister):
    """rows: the list of records under `key`; columns: their fields."""

    key = "images"
    columns: t.Sequence[str] = ()

    def take_action(self, parsed_args):
        result = self.result(parsed_args)
        return self.columns, [tuple(_cell(row.get(column)) for column in self.columns)
                              for row in self.rows(result)]

    def rows(self, result):
        return result.get(self.key) or []


class _Showing(_Verb, command.ShowOne):
    fields: t.Sequence[str] = ()

    def take_action(self, parsed_args):
        result = self.result(parsed_args)
        fields = [field for field in self.fields if field in result]
        return fields, [_cell(result[field]) for field in fields]


def _cell(value: t.Any) -> t.Any:
    if isinstance(value, dict):
        return MappingColumn(value)
    if isinstance(value, (list, tuple)):
        return RecordsColumn(value) if value and all(isinstance(item, dict) for item in value) else ListColumn(value)
    return "" if value is None else value


def verb(name: str, base: type, doc: str, adder: t.Callable[[t.Any], None],
         action: t.Callable[..., t.Dict[str, t.Any]], **attributes: t.Any) -> type:
    """One command class: its docstring is the help, adder its options, action the containergen verb's code."""
    attributes.update(__doc__=doc, adder=staticmethod(adder), action=staticmethod(action), __module__=__name__)
    return type(name, (base,), attributes)


def _with_image(parser):
    parser.add_argument("image", help="image name, such as keystone")
    core.add_image_arguments(parser)


LIST_COLUMNS = ("name", "parent", "local", "status", "revision", "digest", "registry", "ref")
SHOW_FIELDS = ("image", "ref", "id", "size", "up_to_date", "parent", "labels", "packages", "layers", "own_size",
               "lock_file", "revisions", "registry_revisions")


def _package_rows(result):
    """diff/report as rows: change (+ - ~), package, old version, new version."""
    rows = [{"change": "+", "package": name, "old": "", "new": version} for name, version in result["added"].items()]
    rows += [{"change": "-", "package": name, "old": version, "new": ""} for name, version in result["removed"].items()]
    rows += [{"change": "~", "package": name, "old": old, "new": new} for name, (old, new) in result["updated"].items()]
    return sorted(rows, key=lambda row: (row["package"], row["change"]))


def _report_arguments(parser):
    """The options of `containergen report`."""
    parser.add_argument("name", help="image name, such as keystone")
    registry_verbs.add_registry_arguments(parser)
    parser.add_argument("--tag", default=core.stage_options().TAG, help="the floating tag (default: %(default)s)")
    parser.add_argument("--old", help="older tag (default: the revision before --new)")
    parser.add_argument("--new", help="newer tag (default: the latest revision of --tag)")


PACKAGES = {"columns": ("change", "package", "old", "new"), "rows": staticmethod(_package_rows)}
RESULTS = ("name", "action", "deployed", "previous")

Build = verb("Build", _Printing, "Build container images from TCIB-style definitions (flags follow "
             "`openstack tripleo container image build`).", core.add_build_arguments, main.build)
Plan = verb("Plan", _Listing, "Validate the definitions and list the build plan.", core.add_image_arguments,
            main.plan, columns=("name", "parent", "from", "status", "ref"))
Publish = verb("Publish", _Listing, "Publish built images with tag revisions and write the lock file.",
               core.add_publish_arguments, main.publish, columns=("name", "action", "ref", "digest"))
Export = verb("Export", _Printing, "Deploy-tool parameters (tripleo, kolla-ansible) pinning the published set, "
              "from the lock file.", lambda parser: export.add_arguments(parser, core.stage_options().WORK_DIR),
              main.do_export)
List = verb("List", _Listing, "Images of the definitions tree: parent, local status, the published revision and "
            "digest of the lock file (and with --registry-status whether the registry still holds it).",
            views.add_list_arguments, main.COMMANDS["list"], columns=LIST_COLUMNS)
Show = verb("Show", _Showing, "A local image: reference, ID, size, labels, packages, layers (its own marked) and its "
            "revisions (lock file; registry TAG-N with --registry-status).", views.add_show_arguments,
            main.COMMANDS["show"], fields=SHOW_FIELDS)
Render = verb("Render", _Printing, "The Containerfile of an image (what --engine docker builds).", _with_image,
              main.COMMANDS["render"])
Graph = verb("Graph", _Printing, "The dependency tree of the plan, as DOT or as an SVG picture.",
             views.add_graph_arguments, main.COMMANDS["graph"])
Diff = verb("Diff", _Listing, "Packages added (+), removed (-) and updated (~) between two images: "
            + views.DIFF_OPERANDS + ".", views.add_diff_arguments, main.COMMANDS["diff"], **PACKAGES)
Report = verb("Report", _Listing, "Package changes between two revisions of an image in the registry.",
              _report_arguments, main.report, **PACKAGES)
Push = verb("Push", _Showing, "Push one image to a registry (flags of `openstack tripleo container image push`; "
            "the password from --password-file).", registry_verbs.add_push_arguments, main.COMMANDS["push"],
            fields=("action", "source", "destination", "digest", "source_digest", "dry_run", "cleanup"))
Delete = verb("Delete", _Showing, "Delete one image from a registry (flags of `openstack tripleo container image "
              "delete`); every tag of its digest goes with it.", registry_verbs.add_delete_arguments,
              main.COMMANDS["delete"],
              fields=("deleted", "digest", "tags_removed", "signatures_deleted", "artifacts_deleted"))
Promote = verb("Promote", _Listing, "Point each image's 'deployed' tag at its lock file revision.",
               registry_verbs.add_promote_arguments, main.COMMANDS["promote"], columns=RESULTS)
Rollback = verb("Rollback", _Listing, "Swap the 'deployed' and 'previous' tags of images.",
                registry_verbs.add_rollback_arguments, main.COMMANDS["rollback"], columns=RESULTS)
Cull = verb("Cull", _Listing, "Delete old revisions of images that no tag or lock file references.",
            registry_verbs.add_cull_arguments, main.COMMANDS["cull"],
            columns=("name", "deleted", "kept", "signatures_deleted"))
