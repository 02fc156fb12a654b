"""What the `containergen` command and the `openstack containergen` plugin share: the options
(tripleoclient's `openstack tripleo container image build` flags plus ours) and running the
collection's playbooks with the secrets and variables in a 0600 file, never on argv."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
import types
import typing as t

DEFAULT_AUTHFILE = "/root/.config/containergen/auth.json"
DEFAULT_REGISTRY = "localhost:5000"
MAX_THREADS = 64
COLLECTION = ("containergen", "images")
# Where a --repo-dir is mounted for RUN steps, by the profile's family.
REPO_DIRS = {"debian": "/etc/apt/sources.list.d", "redhat": "/etc/yum.repos.d"}


class CLIError(Exception):
    """A failure reported as one line, with a non-zero exit."""


class UsageError(CLIError):
    """A bad option value, found before anything runs: "--option VALUE: reason", exit status 2."""

    exit_code = 2


def write_output(path: str, text: str) -> None:
    """Write a verb's --output file; a failure is one usage line naming the option and the path."""
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError("--output %s: %s" % (path, exc.strerror or exc))


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and every option value checked at parse time (exit status 2)."""

    def error(self, message):
        message = " ".join(message.split())
        found = re.match(r"argument (\S+?)(?:/\S+)?: invalid (int|choice)(?: value)?: '(.*)'(?: \(choose from (.*)\))?\Z",
                         message)
        if found:  # the same "--option VALUE: reason" form as the value checks
            option, kind, value, choices = found.groups()
            reason = "must be a whole number" if kind == "int" else "must be one of %s" % choices.replace("'", "")
            message = "%s %s: %s" % (option, _show(value), reason)
        self.exit(2, "%s: %s\n" % (self.prog, message))

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        command = getattr(parsed, "command", None)
        if command:
            try:
                check_args(command, parsed)
            except UsageError as exc:
                self.exit(2, "%s %s: %s\n" % (self.prog, command, exc))
        return parsed


class Interrupted(CLIError):
    """SIGINT or SIGTERM stopped the run (after the playbook and the build it ran have stopped)."""

    def __init__(self, signum: int) -> None:
        CLIError.__init__(self, "interrupted")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of plan and build; names and meanings follow tripleoclient where it has them."""
    defaults = stage_options()
    parser.add_argument("--config-path", dest="config_path", default=None,
                        help="root of the image definitions tree (default: the collection's vars/images)")
    parser.add_argument("--config-file", dest="config_file", default=None,
                        help="YAML file with container_images: [{imagename: ...}] naming the images to build, "
                             "as tripleoclient's tripleo_containers.yaml")
    parser.add_argument("--profile", default=None,
                        help="distro profile, a name of the collection's vars/profiles; default: from --distro/--release, "
                             "else %s" % defaults.PROFILE)
    parser.add_argument("--distro", default=None, help="distro name, with --release selects the profile")
    parser.add_argument("--release", default=None, help="distro major release")
    parser.add_argument("--base", default=None, help="use this image as it is as the base of the root images")
    parser.add_argument("--include", dest="includes", action="append", default=[],
                        help="image name or regular expression to build; pulls in its ancestors (repeatable)")
    parser.add_argument("--exclude", dest="excludes", action="append", default=[],
                        help="image name or regular expression not to build; also excludes its descendants")
    parser.add_argument("--extra-config", dest="extra_config", default=None,
                        help="YAML file of tcib_* keys for every image: mappings (labels, envs, args) are merged "
                             "with the image's own entries winning; other keys only fill in where unset")
    parser.add_argument("--tcib-extras", dest="tcib_extras", action="append", default=[],
                        help="tcib_KEY=VALUE template variable for the definitions (repeatable); cannot replace "
                             "an image key")
    parser.add_argument("--namespace", default=defaults.REGISTRY_NAMESPACE,
                        help="registry namespace (default: %(default)s)")
    parser.add_argument("--registry", default=DEFAULT_REGISTRY, help="registry HOST:PORT (default: %(default)s)")
    parser.add_argument("--prefix", default="", help="image name prefix (default: none)")
    parser.add_argument("--tag", default=defaults.TAG, help="image tag (default: %(default)s)")
    parser.add_argument("--label", dest="labels", action="append", default=[],
                        help="KEY=VALUE label for every image (repeatable); adds or replaces that key only")
    parser.add_argument("--threads", type=int, default=defaults.THREADS,
                        help="images built at once, 1 to %d (default: %%(default)s)" % MAX_THREADS)
    parser.add_argument("--engine", default=defaults.ENGINE, choices=list(defaults.ENGINES),
                        help="build engine: buildah, or docker through the Docker SDK (default: %(default)s)")
    parser.add_argument("--docker-host", dest="docker_host", default="",
                        help="Docker daemon for --engine docker (default: DOCKER_HOST, else the local socket)")
    parser.add_argument("--work-dir", dest="work_dir", default=defaults.WORK_DIR,
                        help="logs, progress and summary (default: %(default)s)")
    parser.add_argument("--refresh", default=defaults.REFRESH, choices=list(defaults.REFRESHES),
                        help="updates: check the images for package updates; build rebuilds exactly the stale ones "
                             "and their descendants (default: %(default)s)")
    parser.add_argument("--no-hoist", dest="hoist", action="store_false", default=defaults.HOIST,
                        help="build every image on its own parent, without the synthetic PARENT-shared images of "
                             "the profile's hoist file (vars/hoist/PROFILE.yml), for this run only")
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON document on stdout (progress goes to stderr)")


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    add_image_arguments(parser)
    defaults = stage_options()
    parser.add_argument("--push", action="store_true", help="publish to --registry after building")
    parser.add_argument("--volume", dest="volumes", action="append", default=[],
                        help="HOST:CONTAINER[:OPTIONS] bind mount for RUN steps only (repeatable)")
    parser.add_argument("--repo-dir", dest="repo_dir", default=None,
                        help="host directory of package repository definitions, mounted for RUN steps at the "
                             "place of the profile's family (%s)" % ", ".join("%s: %s" % item for item in sorted(REPO_DIRS.items())))
    parser.add_argument("--authfile", default=DEFAULT_AUTHFILE,
                        help="registry credentials file for --push; when given, it must exist (default: %(default)s)")
    parser.add_argument("--skip-build", dest="skip_build", action="store_true",
                        help="validate and print the plan only")
    parser.add_argument("--build-timeout", dest="build_timeout", type=int, default=defaults.TIMEOUT,
                        help="seconds one image may take, 1 to 604800 (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="rebuild even unchanged images")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also print Ansible's output (to stderr) as it runs")
    parser.add_argument("--keep-failed", dest="keep_failed", action="store_true",
                        help="keep a failed image's working container to debug it (buildah engine), renamed "
                             "containergen-failed-IMAGE-ID and named in the error line; default: removed")
    parser.add_argument("--logs-dir", dest="logs_dir", default=None,
                        help="directory of the per-image build logs (default: WORK_DIR/logs)")
    parser.add_argument("--refresh-base", dest="refresh_base", action="store_true",
                        help="bootstrap or pull the profile's base image again (new packages of the distro)")
    parser.add_argument("--build-env", dest="build_env", action="append", default=[],
                        help="KEY=VALUE environment of the build steps only, never stored in an image (repeatable)")
    parser.add_argument("--mirror", default=None,
                        help="package mirror URL used as the build steps' http_proxy, as the site playbook does "
                             "(such as http://127.0.0.1:3142 of the mirror role)")
    parser.add_argument("--summary-json-file", dest="summary_json_file", default=None,
                        help="also write the JSON summary to this file")


def add_publish_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = stage_options()
    parser.add_argument("--registry", default=DEFAULT_REGISTRY, help="registry HOST:PORT (default: %(default)s)")
    parser.add_argument("--engine", default=defaults.ENGINE, choices=list(defaults.ENGINES),
                        help="the store the local images are in (default: %(default)s)")
    parser.add_argument("--docker-host", dest="docker_host", default="",
                        help="Docker daemon for --engine docker (default: DOCKER_HOST, else the local socket)")
    parser.add_argument("--namespace", default=defaults.REGISTRY_NAMESPACE,
                        help="registry namespace (default: %(default)s)")
    parser.add_argument("--tag", default=defaults.TAG, help="floating tag, or a static release tag like 4.0.0")
    parser.add_argument("--image", dest="images", action="append", default=[],
                        help="image to publish (repeatable; default: every built image)")
    parser.add_argument("--prefix", default="", help="local image name prefix")
    parser.add_argument("--local-namespace", dest="local_namespace", default=defaults.LOCAL_NAMESPACE,
                        help="namespace of the local images to publish (default: %(default)s)")
    parser.add_argument("--local-tag", dest="local_tag", default=defaults.TAG,
                        help="tag of the local images to publish (default: %(default)s)")
    parser.add_argument("--authfile", default=DEFAULT_AUTHFILE,
                        help="registry credentials file; when given, it must exist (default: %(default)s)")
    parser.add_argument("--lock-file", dest="lock_file", default=os.path.join(defaults.WORK_DIR, "images.lock"),
                        help="lock file path without extension (default: %(default)s)")
    parser.add_argument("--work-dir", dest="work_dir", default=defaults.WORK_DIR,
                        help="where the publish summary is written (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="say what would be pushed; push nothing, write no lock file")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also print Ansible's output (to stderr) as it runs")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON document")


def _key_values(items: t.Iterable[str], option: str) -> t.Dict[str, str]:
    result = {}
    for item in items:
        if "=" not in item:
            raise CLIError("%s %r: expected KEY=VALUE" % (option, item))
        key, value = item.split("=", 1)
        result[key] = value
    return result


def _profile(args: argparse.Namespace) -> str:
    """--profile, else the profile whose distro and release (or name, as ubi 8) are --distro/--release."""
    if args.profile:
        return args.profile
    if args.distro or args.release:
        distro, release = (args.distro or "").lower(), str(args.release or "")
        known = profiles()
        for profile in known:
            if release == profile["release"] and distro in (profile["distro"], profile["name"][:-len(release) or None]):
                return profile["name"]
        raise CLIError("--distro %s --release %s: no profile (known: %s)" % (
            distro, release, ", ".join("%s %s" % (p["distro"], p["release"]) for p in known)))
    return stage_options().PROFILE


def _config_file_images(path: str) -> t.List[str]:
    """Image names from tripleoclient's container_images file (registry/namespace/prefix-name:tag)."""
    import yaml  # pylint: disable=import-outside-toplevel
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CLIError("--config-file %s: %s" % (path, " ".join(str(exc).split())))
    entries = data.get("container_images") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("imagename") for e in entries):
        raise CLIError("--config-file %s: must hold container_images: [{imagename: ...}, ...]" % path)
    names = []
    for entry in entries:
        name = str(entry.get("imagename", "")).rsplit("/", maxsplit=1)[-1].split(":", maxsplit=1)[0]
        name = re.sub(r"^(openstack|centos|rhel|ubi8|debian)-", "", name)
        names.append(re.sub(r"^(binary|source|rdo|rhos)-", "", name))
    if not names:
        raise CLIError("--config-file %s: no container_images entries" % path)
    return names


def _show(value: t.Any) -> str:
    return _collection_utils()[0].show(value)


def ansible_collections_paths() -> t.List[str]:
    """Ansible's configured collections paths: ANSIBLE_COLLECTIONS_PATH, else collections_path of the
    ansible.cfg in use, else its defaults."""
    try:
        from ansible import constants  # pylint: disable=import-outside-toplevel
        configured = list(constants.COLLECTIONS_PATHS)
    except ImportError:  # ansible-core is a dependency; without it, the same variable and defaults
        variable = os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.environ.get("ANSIBLE_COLLECTIONS_PATHS")
        configured = variable.split(os.pathsep) if variable else ["~/.ansible/collections",
                                                                  "/usr/share/ansible/collections"]
    return [os.path.abspath(os.path.expanduser(path)) for path in configured if path]


def collections_paths() -> t.List[str]:
    """Where Ansible looks for a collection, in its order: its configured paths, then Python's sys.path."""
    return ansible_collections_paths() + [os.path.abspath(path) for path in sys.path if path]


def collection_root() -> str:
    """The directory holding ansible_collections/containergen/images that Ansible would use, made
    importable; CLIError (one line) when the collection is not installed."""
    searched = collections_paths()
    for root in searched:
        if os.path.isdir(os.path.join(root, "ansible_collections", *COLLECTION, "plugins", "module_utils")):
            if root not in sys.path:
                sys.path.insert(0, root)
            return root
    raise CLIError("collection %s not found in Ansible's collections paths (%s) nor Python's path: install it "
                   "with ansible-galaxy collection install, or set ANSIBLE_COLLECTIONS_PATH"
                   % (".".join(COLLECTION), os.pathsep.join(ansible_collections_paths())))


def collection_path(*parts: str) -> str:
    return os.path.join(collection_root(), "ansible_collections", *COLLECTION, *parts)


def _collection_utils() -> t.Tuple[types.ModuleType, types.ModuleType, types.ModuleType]:
    """The collection's _options and _validate (the same checks as the modules') and _stage_options."""
    collection_root()
    from ansible_collections.containergen.images.plugins.module_utils import (  # pylint: disable=import-outside-toplevel
        _options, _stage_options, _validate,
    )
    return _options, _validate, _stage_options


def stage_options() -> types.ModuleType:
    """The collection's _stage_options: the options objects of each stage and their defaults."""
    return _collection_utils()[2]


def profiles() -> t.List[t.Dict[str, str]]:
    """name, family, distro and release of each profile of the collection (vars/profiles/*.yml)."""
    import yaml  # pylint: disable=import-outside-toplevel
    directory = collection_path("vars", "profiles")
    found = []
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith((".yml", ".yaml")):
            continue
        path = os.path.join(directory, entry)
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise CLIError("%s: %s" % (path, " ".join(str(exc).split())))
        if not isinstance(data, dict) or not data.get("name"):
            raise CLIError("%s: a profile needs a name" % path)
        found.append({key: str(data.get(key) or "") for key in ("name", "family", "distro", "release")})
    return found


def profile_info(name: str) -> t.Dict[str, str]:
    for profile in profiles():
        if profile["name"] == name:
            return profile
    raise CLIError("--profile %s: unknown profile (known: %s)" % (_show(name), ", ".join(p["name"] for p in profiles())))


def _docker_host(value: str) -> t.Optional[str]:
    if value and not re.match(r"(unix|tcp|ssh|npipe)://\S+\Z", value):
        return "must be a Docker daemon URL such as unix:///run/docker.sock or tcp://127.0.0.1:2375"
    return None


def _profile_name(value: str) -> t.Optional[str]:
    known = [profile["name"] for profile in profiles()]
    return None if value in known else "unknown profile (known: %s)" % ", ".join(known)


def _key_value_check(key_check: t.Callable[[str], t.Optional[str]]) -> t.Callable[[str], t.Optional[str]]:
    def check(value):
        if "=" not in value:
            return "expected KEY=VALUE"
        return key_check(value.split("=", 1)[0])
    return check


def _given_file(options: types.ModuleType, default: str) -> t.Callable[[str], t.Optional[str]]:
    """A file option whose default may be absent, but whose given value must exist."""
    def check(value):
        return None if value == default else options.existing_file(value)
    return check


def _mirror_url(value: str) -> t.Optional[str]:
    if not re.match(r"https?://[^/\s:]+(:\d{1,5})?/?\Z", value):
        return "must be a proxy URL such as http://127.0.0.1:3142"
    return None


def build_env(args: argparse.Namespace) -> t.Dict[str, str]:
    """--build-env KEY=VALUE, with --mirror as http_proxy (an explicit --build-env http_proxy wins)."""
    env = {"http_proxy": args.mirror} if getattr(args, "mirror", None) else {}
    env.update(_key_values(getattr(args, "build_env", None) or [], "--build-env"))
    return env


def _checks(command: str) -> t.List[t.Tuple[str, str, t.Callable[[t.Any], t.Optional[str]], bool]]:
    """(option, dest, check, repeatable) of command, in the order the options are documented."""
    options, validate = _collection_utils()[:2]
    optional = options.optional
    image = [
        ("--config-path", "config_path", optional(options.existing_dir), False),
        ("--config-file", "config_file", optional(options.existing_file), False),
        ("--profile", "profile", optional(_profile_name), False),
        ("--base", "base", optional(validate.reference), False),
        ("--include", "includes", options.regular_expression, True),
        ("--exclude", "excludes", options.regular_expression, True),
        ("--extra-config", "extra_config", optional(options.existing_file), False),
        ("--tcib-extras", "tcib_extras", _key_value_check(options.template_var), True),
        ("--namespace", "namespace", lambda v: validate.namespace("localhost/" + v.strip("/")) if v.strip("/")
         else "must not be empty, such as containergen", False),
        ("--registry", "registry", options.registry_address, False),
        ("--prefix", "prefix", validate.prefix, False),
        ("--tag", "tag", validate.tag, False),
        ("--label", "labels", _key_value_check(validate.label_key), True),
        ("--threads", "threads", options.threads, False),
        ("--docker-host", "docker_host", _docker_host, False),
        ("--work-dir", "work_dir", options.writable_dir, False),
    ]
    build = image + [
        ("--volume", "volumes", options.volume, True),
        ("--repo-dir", "repo_dir", optional(options.existing_dir), False),
        ("--authfile", "authfile", _given_file(options, DEFAULT_AUTHFILE), False),
        ("--build-timeout", "build_timeout", options.timeout, False),
        ("--build-env", "build_env", _key_value_check(validate.env_name), True),
        ("--mirror", "mirror", optional(_mirror_url), False),
        ("--logs-dir", "logs_dir", optional(options.writable_dir), False),
        ("--summary-json-file", "summary_json_file",
         optional(lambda v: options.writable_dir(os.path.dirname(os.path.abspath(v)))), False),
    ]
    publish = [
        ("--registry", "registry", options.registry_address, False),
        ("--docker-host", "docker_host", _docker_host, False),
        ("--namespace", "namespace", options.repository_path, False),
        ("--tag", "tag", validate.tag, False),
        ("--image", "images", validate.image_name, True),
        ("--prefix", "prefix", validate.prefix, False),
        ("--local-namespace", "local_namespace", options.local_namespace, False),
        ("--local-tag", "local_tag", validate.tag, False),
        ("--authfile", "authfile", _given_file(options, DEFAULT_AUTHFILE), False),
        ("--lock-file", "lock_file", lambda v: options.writable_dir(os.path.dirname(os.path.abspath(v)))
         if v and not v.endswith("/") else "must be a file path without extension, such as /srv/images.lock", False),
        ("--work-dir", "work_dir", options.writable_dir, False),
    ]
    report = [
        ("NAME", "name", validate.image_name, False),
        ("--registry", "registry", options.registry_address, False),
        ("--namespace", "namespace", options.repository_path, False),
        ("--tag", "tag", validate.tag, False),
        ("--old", "old", optional(validate.tag), False),
        ("--new", "new", optional(validate.tag), False),
        ("--authfile", "authfile", _given_file(options, DEFAULT_AUTHFILE), False),
    ]
    export = [
        ("--output", "output", optional(lambda v: options.writable_dir(os.path.dirname(os.path.abspath(v)))), False),
    ]
    inspect = image + [("IMAGE", "image", validate.image_name, False)]
    return {"plan": image, "build": build, "publish": publish, "report": report, "export": export,
            "list": image, "show": inspect, "render": inspect}.get(command, [])


def check_args(command: str, args: argparse.Namespace) -> None:
    """Check every option value of command; raise UsageError("--option VALUE: reason") for the first bad one."""
    options = _collection_utils()[0]
    for option, dest, check, repeatable in _checks(command):
        if not hasattr(args, dest):
            continue
        value = getattr(args, dest)
        for item in (value if repeatable else [value]):
            if item is None:
                continue
            reason = check(item)
            if reason:
                raise UsageError("%s %s: %s" % (option, options.show(item), reason))
    if command in ("plan", "build", "list", "show", "render"):
        try:
            _profile(args)
            if args.config_file:
                _config_file_images(args.config_file)
        except CLIError as exc:
            raise UsageError(str(exc))


def build_options(args: argparse.Namespace) -> t.Any:
    """The build stage's options object (_stage_options.BuildOptions, the one the image_build module makes
    from its parameters) from parsed plan or build options; checked as the module checks them."""
    includes = list(args.includes)
    if getattr(args, "config_file", None):
        includes += _config_file_images(args.config_file)
    profile = _profile(args)
    volumes = list(getattr(args, "volumes", None) or [])
    if getattr(args, "repo_dir", None):
        family = profile_info(profile)["family"]
        if family not in REPO_DIRS:
            raise CLIError("--repo-dir: profile %s has family %r, not one of %s" % (
                profile, family, ", ".join(sorted(REPO_DIRS))))
        volumes.append("%s:%s:ro" % (os.path.abspath(args.repo_dir), REPO_DIRS[family]))
    params = {
        "profile": profile,
        "include": includes,
        "exclude": list(args.excludes),
        "namespace": "localhost/%s" % args.namespace.strip("/"),
        "prefix": args.prefix,
        "tag": args.tag,
        "labels": _key_values(args.labels, "--label"),
        "template_vars": _key_values(args.tcib_extras, "--tcib-extras"),
        "threads": args.threads,
        "engine": args.engine,
        "docker_host": args.docker_host,
        "work_dir": args.work_dir,
        "definitions_path": os.path.abspath(args.config_path) if args.config_path else None,
        "extra_config": os.path.abspath(args.extra_config) if args.extra_config else None,
        "base_image": args.base or None,
        "volumes": volumes,
        "timeout": getattr(args, "build_timeout", None),
        "force": getattr(args, "force", None),
        "keep_failed": bool(getattr(args, "keep_failed", False)),
        "log_dir": os.path.abspath(args.logs_dir) if getattr(args, "logs_dir", None) else None,
        "refresh_base": bool(getattr(args, "refresh_base", False)),
        "build_env": build_env(args),
        "refresh": getattr(args, "refresh", None),
        "hoist": getattr(args, "hoist", None),
    }
    options, stage = _collection_utils()[0], stage_options()
    try:
        return stage.BuildOptions.from_params(params)
    except options.OptionError as exc:  # check_args has already named the command line option
        raise CLIError(str(exc))


# Role variables of the build playbook: image_build_NAME is the option NAME of the stage's object.
BUILD_VARIABLES = ("profile", "include", "exclude", "namespace", "prefix", "tag", "labels", "template_vars", "threads",
                   "engine", "docker_host", "work_dir", "refresh", "hoist")
# Only when given: empty role defaults mean the collection's own tree, no extra config, the profile's base.
BUILD_VARIABLES_GIVEN = (("config_path", "definitions_path"), ("extra_config", "extra_config"),
                         ("base", "base_image"))


def build_variables(args: argparse.Namespace) -> t.Dict[str, t.Any]:
    """Role variables of the build playbook from parsed options (through the build stage's options object)."""
    stage = build_options(args)
    variables = {"image_build_" + name: _plain(getattr(stage, name)) for name in BUILD_VARIABLES}
    for option, name in BUILD_VARIABLES_GIVEN:
        if getattr(args, option, None):
            variables["image_build_" + name] = getattr(stage, name)
    if hasattr(args, "volumes"):
        variables.update(image_build_volumes=list(stage.volumes), image_build_timeout=stage.timeout,
                         image_build_force=stage.force, image_build_refresh_base=stage.refresh_base,
                         image_build_build_env=dict(stage.build_env), image_build_keep_failed=stage.keep_failed)
        if stage.log_dir:
            variables["image_build_log_dir"] = stage.log_dir
    return variables


def _plain(value: t.Any) -> t.Any:
    """JSON-ready: the options objects hold tuples and read-only mappings."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def publish_options(args: argparse.Namespace, local_namespace: t.Optional[str] = None) -> t.Any:
    """The publish stage's options object (_stage_options.PublishOptions, as image_publish makes it).
    local_namespace: that of images just built (build --push, which publishes them under --tag); else
    --local-namespace and --local-tag."""
    params = {
        "registry": args.registry,
        "namespace": args.namespace,
        "tag": args.tag,
        "images": list(getattr(args, "images", []) or []),
        "local_namespace": local_namespace or getattr(args, "local_namespace", None),
        "local_prefix": args.prefix,
        "local_tag": args.tag if local_namespace else getattr(args, "local_tag", None),
        "authfile": args.authfile,
        "lock_file": getattr(args, "lock_file", None) or os.path.join(args.work_dir, "images.lock"),
        "engine": getattr(args, "engine", None),
        "docker_host": getattr(args, "docker_host", None),
    }
    options, stage = _collection_utils()[0], stage_options()
    try:
        return stage.PublishOptions.from_params(params)
    except options.OptionError as exc:
        raise CLIError(str(exc))


PUBLISH_VARIABLES = ("registry", "namespace", "tag", "images", "local_namespace", "local_prefix", "local_tag",
                     "authfile", "lock_file", "engine", "docker_host")


def publish_variables(args: argparse.Namespace, local_namespace: t.Optional[str] = None) -> t.Dict[str, t.Any]:
    """Role variables of the publish playbook (publish_NAME is the option NAME of the stage's object)."""
    stage = publish_options(args, local_namespace)
    variables = {"publish_" + name: _plain(getattr(stage, name)) for name in PUBLISH_VARIABLES}
    variables["publish_docker_host"] = stage.docker_host or ""
    variables["publish_summary_file"] = os.path.join(args.work_dir, "publish-summary.json")
    variables["publish_events_file"] = os.path.join(args.work_dir, "publish-events.jsonl")  # push progress
    return variables


def environment() -> t.Dict[str, str]:
    """ansible-playbook's environment: the caller's (its ANSIBLE_COLLECTIONS_PATH or Ansible's configured
    paths find the collection), with the collection this command checked with first when it came from
    Python's path only, so that the playbook runs the same code."""
    env = dict(os.environ)
    root = collection_root()
    configured = ansible_collections_paths()
    if root not in configured:
        env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join([root] + configured)
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def ansible_playbook() -> str:
    """ansible-playbook of this Python's environment, else the one on PATH (ansible-core installed apart)."""
    beside = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if os.path.exists(beside):
        return beside
    found = shutil.which("ansible-playbook")
    if not found:
        raise CLIError("ansible-playbook not found next to %s nor on PATH: install ansible-core" % sys.executable)
    return found


# ---- running a playbook: ansible-runner, its events, the build's progress events ------------------

class PlaybookFailed(CLIError):
    """A playbook run that failed: one line from its failed task (ansible-runner's events)."""


def run_playbook(playbook: str, variables: t.Dict[str, t.Any], out: t.TextIO = sys.stderr,
                 tags: t.Optional[str] = None, verbose: bool = False,
                 events_file: t.Optional[str] = None, shown: t.Optional[t.Any] = None) -> str:
    """Run containergen.images.PLAYBOOK with ansible-runner, the variables in a 0600 file.

    Failures come from ansible-runner's events (the failed task's result), never from Ansible's
    text. events_file: the build's progress events (the collection's _progress), followed while the
    playbook runs and handed to shown (a progress.Renderer). verbose: Ansible's output goes to out
    as it comes. Returns Ansible's output; raises CLIError with one line on failure."""
    fd, vars_file = tempfile.mkstemp(prefix="containergen-vars-", suffix=".json")
    follower = None
    if events_file:
        from ansible_collections.containergen.images.plugins.module_utils._progress import Follower  # pylint: disable=import-outside-toplevel
        try:
            os.unlink(events_file)  # the file of an earlier build must not be shown as this one's
        except FileNotFoundError:
            pass
        follower = Follower(events_file)
    failed: t.List[t.Dict[str, t.Any]] = []

    def on_event(event: t.Dict[str, t.Any]) -> None:
        if event.get("event") in ("runner_on_failed", "runner_on_unreachable") and \
                not (event.get("event_data") or {}).get("ignore_errors"):
            failed.append(event)
        if verbose and event.get("stdout"):
            text = event["stdout"].replace("\r\n", "\n")
            if shown is not None:
                shown.message(text)
            else:
                out.write(text + "\n")
                out.flush()

    def tick() -> None:
        if follower is not None and shown is not None:
            for record in follower.read():
                shown.handle(record)
            shown.tick(time.time())

    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp creates it 0600
            json.dump(variables, handle)
        argv = [ansible_playbook(), "containergen.images." + playbook, "-e", "@" + vars_file]
        if tags:
            argv += ["--tags", tags]
        returncode, output, dummy, signum = _run_interruptible(argv, environment(), on_event=on_event, tick=tick)
        tick()  # the events written last
        if signum is not None:
            raise Interrupted(signum)
        if returncode is None or returncode < 0:
            how = signal.Signals(-returncode).name if returncode else "a signal"
            raise CLIError("ansible-playbook was killed by %s; the build stopped" % how)
        if returncode != 0:
            raise PlaybookFailed(failure_line(failed, output))
        return output
    finally:
        os.unlink(vars_file)


# How long an interrupted run may take to stop once ansible-playbook has exited (the build module
# kills its steps and removes its working containers); longer, and the command gives up waiting.
STOP_TIMEOUT = 120
# Run in the child before ansible-playbook: SIGTERM to it when the thread that started it (this
# command) dies (Linux PR_SET_PDEATHSIG, kept across exec), then exec.
LAUNCHER = ("import ctypes, os, signal, sys\n"
            "try:\n"
            "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)\n"
            "except (OSError, AttributeError):\n"
            "    pass\n"
            "os.execv(sys.argv[1], sys.argv[1:])\n")


def _run_interruptible(argv: t.List[str], env: t.Dict[str, str],
                       on_event: t.Optional[t.Callable[[t.Dict[str, t.Any]], None]] = None,
                       tick: t.Optional[t.Callable[[], None]] = None
                       ) -> t.Tuple[t.Optional[int], str, str, t.Optional[int]]:
    """Run argv (ansible-playbook) through ansible-runner; returns (returncode, output, "", signum).

    ansible-runner starts it in its own session on a terminal of its own (stdout and stderr are one
    stream, the output) and hands each of its events to on_event as it comes; tick is called
    about five times a second meanwhile. SIGINT or SIGTERM to this process is forwarded to that
    session's process group (ansible-playbook passes it on to its workers and the module), and the
    call returns only once ansible-playbook and every process it started are gone: signum is then
    the signal received. A Ctrl-C reaches only this process, which forwards it once.
    ansible-playbook gets SIGTERM if this process dies. returncode is None when ansible-playbook was
    killed by a signal that this process did not forward."""
    import ansible_runner  # pylint: disable=import-outside-toplevel
    from ansible_runner.config.runner import RunnerConfig  # pylint: disable=import-outside-toplevel
    collection_root()  # the command wrapper's reading of process start times (_start_time)
    state: t.Dict[str, t.Any] = {"signum": None, "sent": set()}
    lines: t.List[str] = []

    def forward(signum, frame):  # pylint: disable=unused-argument
        state["signum"] = signum
        for pid in _children(os.getpid()):
            _killpg(pid, signum)
            state["sent"].add(pid)

    def handler(event: t.Dict[str, t.Any]) -> bool:
        if event.get("stdout"):
            lines.append(event["stdout"].replace("\r\n", "\n"))
        if on_event is not None:
            on_event(event)
        return False  # ansible-runner writes no job event files

    private = tempfile.mkdtemp(prefix="containergen-runner-")
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, forward)
    try:
        # project_dir: ansible-playbook runs in this command's directory (its ansible.cfg applies), as before
        config = RunnerConfig(private_data_dir=private, project_dir=os.getcwd(), binary=sys.executable,
                              cmdline=" ".join(shlex.quote(word) for word in ["-c", LAUNCHER] + list(argv)),
                              envvars=env, quiet=True, suppress_ansible_output=True, suppress_output_file=True,
                              ident="run", timeout=None)
        config.prepare()
        runner = ansible_runner.Runner(config=config, event_handler=handler)
        thread = threading.Thread(target=runner.run, name="ansible-runner", daemon=True)
        thread.start()
        family: t.Dict[int, str] = {}
        while thread.is_alive():  # polled: signal handlers run in this thread, and the family changes
            for pid in _children(os.getpid()):
                if state["signum"] is not None and pid not in state["sent"]:  # started after the signal came
                    _killpg(pid, state["signum"])
                    state["sent"].add(pid)
                family.setdefault(pid, _start_time(pid) or "")
                family.update(_descendants(pid))
            if tick is not None:
                tick()
            thread.join(0.2)
        if state["signum"] is not None or runner.rc is None:  # the module may still be stopping
            _wait_gone({pid: started for pid, started in family.items() if started}, STOP_TIMEOUT)
        return runner.rc, "".join(line + "\n" for line in lines), "", state["signum"]
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before if handler_before is not None else signal.SIG_DFL)
        shutil.rmtree(private, ignore_errors=True)


def _children(parent: int) -> t.List[int]:
    """Live processes whose parent is parent (the playbook ansible-runner started for this one)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, encoding="utf-8", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1] == str(parent) and fields[0] not in ("Z", "X"):
            found.append(int(name))
    return found


def _killpg(pgid, signum):
    try:
        os.killpg(pgid, signum)
    except OSError:
        pass


def _start_time(pid):
    """A live process's start time (None when gone or a zombie): the command wrapper's reading."""
    from ansible_collections.containergen.images.plugins.module_utils._command import _process_start  # pylint: disable=import-outside-toplevel
    return _process_start(pid)


def _descendants(root):
    """{pid: start time} of every live process below root (ansible's workers and the module run in
    their own sessions, so the process group does not find them)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, encoding="utf-8", errors="replace") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        started = _start_time(pid)
        if started is not None and pid not in found:
            found[pid] = started
            todo.extend(children.get(pid, []))
    return found


def _wait_gone(family, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_start_time(pid) == started for pid, started in family.items()):
            return True
        time.sleep(0.2)
    return False


def failure_line(failed: t.Sequence[t.Dict[str, t.Any]], output: str = "") -> str:
    """One line for a failed playbook run from ansible-runner's events of the failed task: the
    module's definition problems (one a line), the failed images with their errors and logs, else
    the task's message. Without such an event (Ansible stopped before any task), Ansible's error."""
    for event in reversed(failed):
        result = (event.get("event_data") or {}).get("res") or {}
        if not isinstance(result, dict):
            continue
        if result.get("problems"):
            return definition_problems([" ".join(str(p).split())[:1000] for p in result["problems"]])
        message = " ".join(str(result.get("msg") or "").split())
        images = [r for r in result.get("images") or [] if isinstance(r, dict) and r.get("status") == "failed"]
        if images:
            details = ["%s: %s%s" % (r.get("name"), " ".join(str(r.get("error") or "").split())[:300],
                                     " (log: %s)" % r["log"] if r.get("log") else "") for r in images[:3]]
            return "%s; %s" % (message, "; ".join(details))
        if message:
            return message[:1000]
        task = (event.get("event_data") or {}).get("task")
        if task:
            return "task %r failed" % task
    text = [line.strip() for line in output.replace("\r", "").splitlines() if line.strip()]
    for line in reversed(text):  # Ansible's own error (no task ran): "[ERROR]: ..." or "ERROR! ..."
        for prefix in ("[ERROR]: ", "ERROR! "):
            if line.startswith(prefix):
                return line[len(prefix):][:1000]
    return text[-1][:1000] if text else "ansible-playbook failed"


def ensure_work_dir(args: argparse.Namespace) -> str:
    """--work-dir, created when missing; CLIError naming the option when it cannot be created or written."""
    path = args.work_dir
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UsageError("--work-dir %s: cannot create it: %s" % (path, exc.strerror or exc))
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError("--work-dir %s: not writable" % path)
    return path


def read_json(path: str) -> t.Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def build(args: argparse.Namespace, out: t.TextIO = sys.stderr,
          planned: t.Optional[t.Mapping[str, t.Any]] = None) -> t.Dict[str, t.Any]:
    """containergen build: plan, build, optionally publish. Returns the summary dict.

    Progress goes to out from the build's events (live on a terminal, plain lines otherwise);
    planned (the plan with its statuses) tells the ETA which images will be built."""
    check_args("build", args)
    ensure_work_dir(args)
    variables = build_variables(args)
    if args.skip_build:
        return plan(args, out)
    from containergen_cli import progress  # pylint: disable=import-outside-toplevel
    to_build = None
    if planned and not getattr(args, "force", False):
        to_build = [i["name"] for i in planned.get("images") or [] if i.get("status") != "up to date"]
    state = progress.State(progress.load_timings(args.work_dir), to_build)
    shown = progress.renderer(out, state)
    try:
        run_playbook("build", variables, out, verbose=getattr(args, "verbose", False),
                     events_file=os.path.join(args.work_dir, "events.jsonl"), shown=shown)
    finally:
        shown.close()
    summary = read_json(os.path.join(args.work_dir, "summary.json"))
    progress.save_timings(args.work_dir, summary)
    if args.push:
        publish_vars = publish_variables(args, local_namespace=variables["image_build_namespace"])
        publish_vars["publish_images"] = [r["name"] for r in summary["images"]]
        run_publish(publish_vars, out, getattr(args, "verbose", False))
        summary["published"] = read_json(publish_vars["publish_summary_file"])
    return summary


def run_publish(variables: t.Dict[str, t.Any], out: t.TextIO, verbose: bool) -> None:
    """The publish playbook with the progress of its pushes (each image's start, push and finish)."""
    from containergen_cli import progress  # pylint: disable=import-outside-toplevel
    shown = progress.renderer(out, progress.State(), title="publish")
    try:
        run_playbook("publish", variables, out, verbose=verbose, events_file=variables["publish_events_file"],
                     shown=shown)
    finally:
        shown.close()


def publish(args: argparse.Namespace, out: t.TextIO = sys.stderr) -> t.Dict[str, t.Any]:
    """containergen publish; --check runs the library in check mode here (the role writes no summary then)."""
    check_args("publish", args)
    if getattr(args, "check", False):
        from ansible_collections.containergen.images.plugins.module_utils import _pipeline  # pylint: disable=import-outside-toplevel
        return _pipeline.publish_images(publish_options(args), check_mode=True)
    variables = publish_variables(args)
    ensure_work_dir(args)  # the role writes the summary there, after the lock file
    run_publish(variables, out, getattr(args, "verbose", False))
    return read_json(variables["publish_summary_file"])


# The build options the plan reads; engine and docker_host choose the store whose images are "up to date".
PLAN_FIELDS = ("definitions_path", "profile", "include", "exclude", "namespace", "prefix", "tag", "labels",
               "template_vars", "extra_config", "base_image", "engine", "docker_host", "refresh", "hoist")


def plan(args: argparse.Namespace, out: t.TextIO = sys.stdout) -> t.Dict[str, t.Any]:  # pylint: disable=unused-argument
    """The plan, from the library directly: it only reads."""
    check_args("plan", args)
    stage = stage_options()
    from ansible_collections.containergen.images.plugins.module_utils import _pipeline  # pylint: disable=import-outside-toplevel
    from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # pylint: disable=import-outside-toplevel
    from ansible_collections.containergen.images.plugins.module_utils._definitions import DefinitionError  # pylint: disable=import-outside-toplevel
    options = plan_options(args)
    try:
        return _pipeline.plan_images(options, runner=Runner())
    except DefinitionError as exc:
        raise CLIError(definition_problems(exc.problems))


def plan_options(args: argparse.Namespace, include: t.Optional[t.List[str]] = None) -> t.Any:
    """The plan stage's options object from parsed plan/build options; include replaces --include."""
    if include is not None:
        args = argparse.Namespace(**dict(vars(args), includes=include, config_file=None))
    built = build_options(args)
    return stage_options().PlanOptions(**{name: getattr(built, name) for name in PLAN_FIELDS})


def definition_problems(problems: t.Sequence[str]) -> str:
    """One problem on the error line; several: a count on it, then one problem per line."""
    if len(problems) == 1:
        return "invalid image definitions: " + problems[0]
    return "invalid image definitions (%d problems):\n%s" % (len(problems), "\n".join(problems))
