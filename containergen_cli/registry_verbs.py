"""Registry verbs: `push` and `delete` (as `openstack tripleo container image push|delete` have them),
and `promote`, `rollback`, `cull` (the image_promote and image_cull modules' library, on the command line).

Passwords are read from a file (--password-file, `-` for stdin) into a 0600 authfile of a private
temporary directory that is removed afterwards; tripleoclient's --password is refused (a password on
the command line is visible to every user of the host in ps)."""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import typing as t

from containergen_cli import core

VERBS = ("push", "delete", "promote", "rollback", "cull")
PASSWORD_REFUSED = "refused: a password on the command line is visible in ps; use --password-file FILE (- for stdin) " \
                   "or --authfile"
# A reference's first component is a registry when it looks like a host (as docker's reference parser decides).
HOST = re.compile(r"^(localhost|[^/]*[.:][^/]*)$")


# ---- options -------------------------------------------------------------------------------------------

def add_registry_arguments(parser: argparse.ArgumentParser, json_help: str = "print the result as one JSON document"
                           ) -> None:
    """--registry, --namespace, --authfile, --json: the registry and namespace a verb works in."""
    defaults = core.stage_options()
    parser.add_argument("--registry", default=core.DEFAULT_REGISTRY, help="registry HOST:PORT (default: %(default)s)")
    parser.add_argument("--namespace", default=defaults.REGISTRY_NAMESPACE,
                        help="registry namespace (default: %(default)s)")
    parser.add_argument("--authfile", default=core.DEFAULT_AUTHFILE,
                        help="registry credentials file; when given, it must exist (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help=json_help)


def _lock_file_argument(parser: argparse.ArgumentParser, text: str, **kwargs: t.Any) -> None:
    parser.add_argument("--lock-file", dest="lock_file", help=text, **kwargs)


def _credential_arguments(parser: argparse.ArgumentParser, source: bool) -> None:
    """tripleoclient's --username/--password pair, the password from a file."""
    parser.add_argument("--username", default=None, help="user name for the destination registry")
    parser.add_argument("--password-file", dest="password_file", default=None,
                        help="file holding the password of --username (first line; - reads stdin)")
    parser.add_argument("--password", default=None, help=PASSWORD_REFUSED)
    if source:
        parser.add_argument("--source-username", dest="source_username", default=None,
                            help="user name for the source registry")
        parser.add_argument("--source-password-file", dest="source_password_file", default=None,
                            help="file holding the password of --source-username (first line; - reads stdin)")
        parser.add_argument("--source-password", dest="source_password", default=None, help=PASSWORD_REFUSED)


def add_arguments(sub: t.Any) -> None:
    """The parsers of the registry verbs, on the subparsers of `containergen`."""
    for verb, text in (("push", "copy one image to a registry (openstack tripleo container image push)"),
                       ("delete", "delete one image from a registry (openstack tripleo container image delete)"),
                       ("promote", "point each image's 'deployed' tag at its lock file revision ('previous' keeps "
                                   "the former one)"),
                       ("rollback", "swap the 'deployed' and 'previous' tags of images"),
                       ("cull", "delete old revisions of images that no tag or lock file references")):
        ADDERS[verb](sub.add_parser(verb, help=text, description=text))


def add_push_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", metavar="IMAGE",
                        help="image to push: REGISTRY/NAMESPACE/NAME[:TAG] (latest when no tag); a local image with "
                             "--local or a containers-storage: prefix")
    parser.add_argument("--local", action="store_true",
                        help="the image is in the local store (buildah/podman's containers-storage), not a registry")
    parser.add_argument("--registry-url", dest="registry_url", default=core.DEFAULT_REGISTRY,
                        help="destination registry HOST:PORT (default: %(default)s; tripleoclient: the undercloud's)")
    parser.add_argument("--namespace", default=None,
                        help="destination namespace (default: the source's, as tripleoclient does)")
    parser.add_argument("--append-tag", dest="append_tag", default="",
                        help="appended to the tag at the destination (latest -> latest-hotfix with --append-tag=-hotfix)")
    parser.add_argument("--authfile", default=core.DEFAULT_AUTHFILE,
                        help="registry credentials file; when given, it must exist (default: %(default)s)")
    _credential_arguments(parser, source=True)
    parser.add_argument("--dry-run", dest="dry_run", action="store_true",
                        help="read the source and the destination's tags (credentials are tried); push nothing")
    parser.add_argument("--multi-arch", dest="multi_arch", action="store_true",
                        help="copy every architecture of a manifest list")
    parser.add_argument("--cleanup", action="store_true", help="remove the local image after pushing it")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document")


def add_delete_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", metavar="IMAGE",
                        help="image to delete: REGISTRY/NAMESPACE/NAME:TAG, or NAMESPACE/NAME:TAG of --registry-url")
    parser.add_argument("--registry-url", dest="registry_url", default=core.DEFAULT_REGISTRY,
                        help="registry HOST:PORT when IMAGE names none (default: %(default)s)")
    parser.add_argument("--authfile", default=core.DEFAULT_AUTHFILE,
                        help="registry credentials file; when given, it must exist (default: %(default)s)")
    _credential_arguments(parser, source=False)
    parser.add_argument("-y", "--yes", action="store_true",
                        help="do not ask for confirmation (needed when stdin is not a terminal)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document")


def add_promote_arguments(parser: argparse.ArgumentParser) -> None:
    add_registry_arguments(parser)
    _lock_file_argument(parser, "lock file written by publish, path without extension (default: %(default)s)",
                        default=os.path.join(core.stage_options().WORK_DIR, "images.lock"))
    parser.add_argument("--check", action="store_true", help="say what would move; move no tag")


def add_rollback_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", metavar="IMAGE", nargs="*", help="image names (default: those of --lock-file)")
    add_registry_arguments(parser)
    _lock_file_argument(parser, "lock file naming the images when none is given, path without extension")
    parser.add_argument("--check", action="store_true", help="say what would move; move no tag")


def add_cull_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image names")
    add_registry_arguments(parser)
    parser.add_argument("--tag", default=core.stage_options().TAG,
                        help="the floating tag whose revisions TAG-N are culled (default: %(default)s)")
    parser.add_argument("--max-age-days", dest="max_age_days", type=int, default=30,
                        help="delete revisions older than this many days, 0 or more (default: %(default)s)")
    parser.add_argument("--lock-file", dest="lock_files", action="append", default=[],
                        help="keep every digest of this lock file, path without extension (repeatable)")
    parser.add_argument("--check", action="store_true", help="say what would be deleted; delete nothing")


ADDERS: t.Dict[str, t.Callable[[argparse.ArgumentParser], None]] = {
    "push": add_push_arguments, "delete": add_delete_arguments, "promote": add_promote_arguments,
    "rollback": add_rollback_arguments, "cull": add_cull_arguments,
}


# ---- checks (before anything runs: "--option VALUE: reason", exit status 2) ------------------------------

def _refused(value: str) -> t.Optional[str]:  # pylint: disable=unused-argument
    return PASSWORD_REFUSED


def _password_file(value: str) -> t.Optional[str]:
    if value == "-":
        return None
    if not os.path.isfile(value):
        return "no such file"
    if not os.access(value, os.R_OK):
        return "not readable"
    return None


def _reference(value: str) -> t.Optional[str]:
    validate = core._collection_utils()[1]  # pylint: disable=protected-access
    bare = re.sub(r"^(docker://|containers-storage:)", "", value)
    if "@" in bare:
        return "a digest is not supported here: give NAME:TAG"
    return validate.reference(bare)


def _lock_base(value: str) -> t.Optional[str]:
    """A lock file to read: BASE.json, BASE.yaml or BASE itself exists."""
    if not value or value.endswith("/"):
        return "must be a file path without extension, such as /srv/images.lock"
    for candidate in (value + ".json", value + ".yaml", value):
        if os.path.isfile(candidate):
            return None
    return "no lock file (%s.json or %s.yaml): publish writes it" % (value, value)


def _max_age(value: int) -> t.Optional[str]:
    return None if value >= 0 else "must be 0 or more"


def checks(verb: str) -> t.List[t.Tuple[str, str, t.Callable[[t.Any], t.Optional[str]], bool]]:
    """(option, dest, check, repeatable) of a verb, in the order of its options."""
    options, validate = core._collection_utils()[:2]  # pylint: disable=protected-access
    optional = options.optional
    authfile = ("--authfile", "authfile", lambda v: None if v == core.DEFAULT_AUTHFILE else options.existing_file(v),
                False)
    credentials = [("--password", "password", optional(_refused), False),
                   ("--source-password", "source_password", optional(_refused), False),
                   ("--password-file", "password_file", optional(_password_file), False),
                   ("--source-password-file", "source_password_file", optional(_password_file), False)]
    registry = [("--registry", "registry", options.registry_address, False),
                ("--namespace", "namespace", options.repository_path, False), authfile]
    table = {
        "push": [("IMAGE", "image", _reference, False),
                 ("--registry-url", "registry_url", options.registry_address, False),
                 ("--namespace", "namespace", optional(options.repository_path), False),
                 ("--append-tag", "append_tag", lambda v: validate.tag("latest" + v) if v else None, False),
                 authfile] + credentials,
        "delete": [("IMAGE", "image", _reference, False),
                   ("--registry-url", "registry_url", options.registry_address, False), authfile] + credentials,
        "promote": registry + [("--lock-file", "lock_file", _lock_base, False)],
        "rollback": registry + [("IMAGE", "images", validate.image_name, True),
                                ("--lock-file", "lock_file", optional(_lock_base), False)],
        "cull": registry + [("IMAGE", "images", validate.image_name, True),
                            ("--tag", "tag", validate.tag, False),
                            ("--max-age-days", "max_age_days", _max_age, False),
                            ("--lock-file", "lock_files", _lock_base, True)],
    }
    return table[verb]


def check(verb: str, args: argparse.Namespace,
          table: t.Optional[t.List[t.Tuple[str, str, t.Callable[[t.Any], t.Optional[str]], bool]]] = None) -> None:
    """Raise core.UsageError for the first bad option value (exit status 2), before anything runs."""
    options = core._collection_utils()[0]  # pylint: disable=protected-access
    for option, dest, test, repeatable in (table if table is not None else checks(verb)):
        value = getattr(args, dest, None)
        for item in (value if repeatable else [value]):
            if item is None:
                continue
            reason = test(item)
            if reason:
                raise core.UsageError("%s %s: %s" % (option, options.show(item), reason))
    for user, password in (("username", "password_file"), ("source_username", "source_password_file")):
        if getattr(args, user, None) and not getattr(args, password, None):
            raise core.UsageError("--%s %s: needs --%s" % (user.replace("_", "-"), getattr(args, user),
                                                           password.replace("_", "-")))


# ---- registries and credentials ------------------------------------------------------------------------

def given_authfile(path: t.Optional[str]) -> t.Optional[str]:
    """The authfile to use: a given one (checked to exist), the default one when it exists, else none."""
    if not path or (path == core.DEFAULT_AUTHFILE and not os.path.exists(path)):
        return None
    return path


def registry_client(registry: str, namespace: str, authfile: t.Optional[str]) -> t.Any:
    """_publish.Registry for registry/namespace (TLS verified; the CA of certs.d, as skopeo finds it)."""
    from ansible_collections.containergen.images.plugins.module_utils import _pipeline  # pylint: disable=import-outside-toplevel
    stage = core.stage_options()
    return _pipeline.registry_client(stage.RegistryOptions.from_params(
        {"registry": registry, "namespace": namespace, "authfile": given_authfile(authfile)}))


def _read_password(path: str, option: str) -> str:
    try:
        if path == "-":
            text = sys.stdin.readline()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.readline()
    except OSError as exc:
        raise core.UsageError("%s %s: %s" % (option, path, exc.strerror or exc))
    password = text.rstrip("\r\n")
    if not password:
        raise core.UsageError("%s %s: empty (the password is its first line)" % (option, path))
    return password


@contextlib.contextmanager
def credentials(authfile: t.Optional[str], logins: t.Sequence[t.Tuple[str, t.Optional[str], t.Optional[str], str]]
                ) -> t.Iterator[t.Optional[str]]:
    """The authfile skopeo gets: the given one, plus (registry, user, password file, option) logins, in a
    0600 file of a private temporary directory removed on exit. Without logins: the given one as it is."""
    logins = [login for login in logins if login[1]]
    if not logins:
        yield authfile
        return
    data: t.Dict[str, t.Any] = {"auths": {}}
    if authfile:
        try:
            with open(authfile, encoding="utf-8") as handle:
                data = json.load(handle)
            data.setdefault("auths", {})
        except (OSError, ValueError) as exc:
            raise core.UsageError("--authfile %s: %s" % (authfile, " ".join(str(exc).split())))
    for host, user, password_file, option in logins:
        password = _read_password(t.cast(str, password_file), option)
        token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        data["auths"][host] = {"auth": token}
    directory = tempfile.mkdtemp(prefix="containergen-auth-")  # 0700
    path = os.path.join(directory, "auth.json")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def split_reference(ref: str, default_registry: str) -> t.Tuple[str, str, str, str]:
    """REGISTRY/NAMESPACE/NAME[:TAG] -> (registry, namespace, name, tag); the registry is default_registry
    when the first component is not a host; the tag latest when none."""
    parts = ref.split("/")
    host = parts.pop(0) if len(parts) > 1 and HOST.match(parts[0]) else default_registry
    last = parts.pop()
    name, _sep, tag = last.partition(":")
    return host, "/".join(parts), name, tag or "latest"


def _copy(registry: t.Any, source: str, destination: str, multi_arch: bool) -> None:
    argv = [registry.skopeo, "copy", "--retry-times", "2"] + (["--all"] if multi_arch else []) \
        + registry._flags(("src-", "dest-")) + [source, destination]  # pylint: disable=protected-access
    registry.run(argv)


def _inspect_source(registry: t.Any, source: str) -> t.Dict[str, t.Any]:
    """skopeo inspect of a source image (containers-storage: or docker://): its digest."""
    from ansible_collections.containergen.images.plugins.module_utils._command import CommandError  # pylint: disable=import-outside-toplevel
    argv = [registry.skopeo, "inspect"] + registry._flags() + [source]  # pylint: disable=protected-access
    rc, out, err = registry.run(argv, check=False)
    if rc != 0:
        if re.search(r"does not resolve to an image|image not known|manifest unknown|MANIFEST_UNKNOWN|not found",
                     out + err):
            raise core.CLIError("%s: no such image" % source)
        raise CommandError(argv, rc, out + err)
    return json.loads(out)


# ---- the verbs -----------------------------------------------------------------------------------------

def push(args: argparse.Namespace) -> t.Dict[str, t.Any]:
    """tripleoclient's container image push: copy one image to --registry-url, keeping its namespace, name
    and tag (the tag with --append-tag appended)."""
    check("push", args)
    local = args.local or args.image.startswith("containers-storage:")
    bare = re.sub(r"^(docker://|containers-storage:)", "", args.image)
    if local:
        path = bare.split("/", 1)[1] if "/" in bare and HOST.match(bare.split("/", 1)[0]) else bare
        namespace, _sep, last = path.rpartition("/")
        name, _sep, tag = last.partition(":")
        tag = tag or "latest"
        bare = bare if ":" in last else bare + ":latest"
        source = "containers-storage:" + bare
        source_host = None
    else:
        source_host, namespace, name, tag = split_reference(bare, "")
        if not source_host or not namespace:
            raise core.UsageError("IMAGE %s: must be REGISTRY/NAMESPACE/NAME[:TAG] (or give --local)" % args.image)
        source = "docker://%s/%s/%s:%s" % (source_host, namespace, name, tag)
    namespace = (args.namespace if args.namespace is not None else namespace).strip("/")
    target_tag = tag + args.append_tag
    logins = [(args.registry_url, args.username, args.password_file, "--password-file")]
    if source_host and args.source_username:
        logins.append((source_host, args.source_username, args.source_password_file, "--source-password-file"))
    with credentials(given_authfile(args.authfile), logins) as authfile:
        from ansible_collections.containergen.images.plugins.module_utils import _pipeline  # pylint: disable=import-outside-toplevel
        stage = core.stage_options()
        registry = _pipeline.registry_client(stage.RegistryOptions.from_params(
            {"registry": args.registry_url, "namespace": namespace or "", "authfile": authfile}))
        destination = "%s:%s" % (registry.repo(name), target_tag)
        digest = _inspect_source(registry, source).get("Digest")
        result = {"source": source, "destination": destination, "dry_run": bool(args.dry_run),
                  "cleanup": False, "source_digest": digest}
        if args.dry_run:
            registry.list_tags(name)  # the destination answers and accepts the credentials
            result["action"] = "would push"
        else:
            _copy(registry, source, "docker://" + destination, args.multi_arch)
            pushed = registry.inspect(name, target_tag)
            result.update(action="pushed", digest=(pushed or {}).get("digest"))
            if args.cleanup and local:
                registry.run(["podman", "rmi", bare])
                result["cleanup"] = True
    result["table"] = "%s %s -> %s%s" % (result["action"], source, destination,
                                         " (%s)" % result["digest"] if result.get("digest") else "")
    return result


def delete(args: argparse.Namespace, confirm: t.Optional[t.Callable[[str], bool]] = None) -> t.Dict[str, t.Any]:
    """tripleoclient's container image delete. The registry deletes a manifest by digest: every tag of that
    digest goes with it (named in the result), and the digest's signature attachment and SBOM artifacts too."""
    check("delete", args)
    bare = re.sub(r"^docker://", "", args.image)
    host, namespace, name, tag = split_reference(bare, args.registry_url)
    if ":" not in bare.rsplit("/", 1)[-1]:
        raise core.UsageError("IMAGE %s: give the tag to delete (NAME:TAG); nothing is deleted by default" % args.image)
    if not args.yes and confirm is None and not sys.stdin.isatty():
        raise core.UsageError("--yes: not given, and there is no terminal to ask on")
    with credentials(given_authfile(args.authfile), [(host, args.username, args.password_file,
                                                      "--password-file")]) as authfile:
        registry = registry_client(host, namespace, authfile)
        info = registry.inspect(name, tag)
        if info is None:
            raise core.CLIError("%s: no such image %s:%s" % (name, registry.repo(name), tag))
        tags = registry.list_tags(name)
        siblings = sorted(other for other in tags if other != tag and not other.endswith(".sig")
                          and (registry.inspect(name, other) or {}).get("digest") == info["digest"])
        question = "delete %s:%s (%s)%s? [y/N] " % (registry.repo(name), tag, info["digest"],
                                                    ", also tags " + ", ".join(siblings) if siblings else "")
        if not args.yes:
            if not (confirm or _ask)(question):
                raise core.CLIError("%s:%s: not confirmed, nothing deleted" % (registry.repo(name), tag))
        # SBOM artifacts referring to the digest first: while the image is there, they are never orphans
        artifacts = registry.detach(name, info["digest"])
        registry.delete(name, tag)
        signatures = []
        if registry.signature_tag(info["digest"]) in tags:
            registry.delete(name, registry.signature_tag(info["digest"]))
            signatures.append(registry.signature_tag(info["digest"]))
    return {"deleted": "%s:%s" % (registry.repo(name), tag), "digest": info["digest"], "tags_removed": [tag] + siblings,
            "signatures_deleted": signatures, "artifacts_deleted": artifacts,
            "table": "deleted %s:%s (%s)%s" % (registry.repo(name), tag, info["digest"],
                                               "; also gone: " + ", ".join(siblings + signatures + artifacts)
                                               if siblings or signatures or artifacts else "")}


def _ask(question: str) -> bool:
    sys.stderr.write(question)
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _entries(path: str) -> t.Dict[str, str]:
    from ansible_collections.containergen.images.plugins.module_utils import _publish  # pylint: disable=import-outside-toplevel
    from containergen_cli import export  # pylint: disable=import-outside-toplevel
    found = export.lock_path(path)
    try:
        return _publish.read_lock_file(found)
    except (ValueError, KeyError, TypeError) as exc:
        raise core.CLIError("--lock-file %s: not a lock file: %s" % (found, " ".join(str(exc).split())))


def _results_table(results: t.List[t.Dict[str, t.Any]], columns: t.Sequence[str]) -> str:
    rows = [tuple(columns)] + [tuple(_cell(result.get(column)) for column in columns) for result in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _cell(value: t.Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value) or "-"
    return "-" if value in (None, "") else str(value)


def _library_errors() -> t.Tuple[t.Type[BaseException], ...]:
    from ansible_collections.containergen.images.plugins.module_utils import _publish  # pylint: disable=import-outside-toplevel
    return (_publish.PublishError,)


def _moved_tags(results: t.List[t.Dict[str, t.Any]], check_mode: bool, done: str, would: str
                ) -> t.Dict[str, t.Any]:
    """promote's and rollback's result: in check mode the action says what a real run would do."""
    if check_mode:
        results = [dict(result, action=would) if result["action"] == done else result for result in results]
    return {"images": results, "check_mode": check_mode,
            "table": _results_table(results, ("name", "action", "deployed", "previous"))}


def promote(args: argparse.Namespace) -> t.Dict[str, t.Any]:
    from ansible_collections.containergen.images.plugins.module_utils import _publish  # pylint: disable=import-outside-toplevel
    check("promote", args)
    entries = _entries(args.lock_file)
    registry = registry_client(args.registry, args.namespace, args.authfile)
    try:
        results = _publish.promote(registry, entries, check_mode=bool(args.check))
    except _library_errors() as exc:
        raise core.CLIError(str(exc))
    return _moved_tags(results, bool(args.check), "promoted", "would promote")


def rollback(args: argparse.Namespace) -> t.Dict[str, t.Any]:
    from ansible_collections.containergen.images.plugins.module_utils import _publish  # pylint: disable=import-outside-toplevel
    check("rollback", args)
    registry = registry_client(args.registry, args.namespace, args.authfile)
    names = list(args.images)
    try:
        if not names:
            if not args.lock_file:
                raise core.UsageError("IMAGE: give image names or --lock-file naming them")
            names = sorted(_publish.entries_of(registry, _entries(args.lock_file)))
        results = _publish.rollback(registry, names, check_mode=bool(args.check))
    except _library_errors() as exc:
        raise core.CLIError(str(exc))
    return _moved_tags(results, bool(args.check), "rolled back", "would roll back")


def cull(args: argparse.Namespace) -> t.Dict[str, t.Any]:
    from ansible_collections.containergen.images.plugins.module_utils import _publish  # pylint: disable=import-outside-toplevel
    check("cull", args)
    keep = set()
    try:
        for path in args.lock_files:
            keep |= {_publish.parse_lock_ref(ref)[2] for ref in _entries(path).values()}
        registry = registry_client(args.registry, args.namespace, args.authfile)
        for name in args.images:
            if not registry.list_tags(name):
                raise core.CLIError("%s: no such repository %s in the registry" % (name, registry.repo(name)))
        results = _publish.cull(registry, list(args.images), args.tag, args.max_age_days, keep,
                                check_mode=bool(args.check))
    except _library_errors() as exc:
        raise core.CLIError(str(exc))
    lines = [_results_table(results, ("name", "deleted", "kept"))]
    lines.append("%s %d revisions" % ("check mode: would delete" if args.check else "deleted",
                                      sum(len(result["deleted"]) for result in results)))
    return {"images": results, "check_mode": bool(args.check), "table": "\n".join(lines)}


ACTIONS: t.Dict[str, t.Callable[[argparse.Namespace], t.Dict[str, t.Any]]] = {
    "push": push, "delete": delete, "promote": promote, "rollback": rollback, "cull": cull,
}


def _command(action: t.Callable[[argparse.Namespace], t.Dict[str, t.Any]]) -> t.Callable[..., t.Dict[str, t.Any]]:
    """A verb as main.COMMANDS calls it: (args, out, err)."""
    def run(args: argparse.Namespace, out: t.TextIO, err: t.TextIO) -> t.Dict[str, t.Any]:  # pylint: disable=unused-argument
        return action(args)
    return run


COMMANDS = {verb: _command(action) for verb, action in ACTIONS.items()}
