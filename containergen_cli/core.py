"""What the `containergen` command and the `openstack containergen` plugin share: the options
(tripleoclient's `openstack tripleo container image build` flags plus ours) and running the
collection's playbooks with the secrets and variables in a 0600 file, never on argv."""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_AUTHFILE = "/root/.config/containergen/auth.json"
MAX_THREADS = 64
DISTRO_PROFILES = {("debian", "12"): "debian12", ("debian", "13"): "debian13", ("rhel", "8"): "ubi8", ("ubi", "8"): "ubi8",
                   ("centos", "9"): "centos9"}


class CLIError(Exception):
    """A failure reported as one line, with a non-zero exit."""


class UsageError(CLIError):
    """A bad option value, found before anything runs: "--option VALUE: reason", exit status 2."""

    exit_code = 2


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


def add_image_arguments(parser):
    """Options of plan and build; names and meanings follow tripleoclient where it has them."""
    parser.add_argument("--config-path", dest="config_path", default=None,
                        help="root of the image definitions tree (default: the collection's vars/images)")
    parser.add_argument("--config-file", dest="config_file", default=None,
                        help="YAML file with container_images: [{imagename: ...}] naming the images to build, "
                             "as tripleoclient's tripleo_containers.yaml")
    parser.add_argument("--profile", default=None,
                        help="distro profile (debian13, debian12, ubi8, centos9); default: from --distro/--release, else debian13")
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
    parser.add_argument("--namespace", default="containergen", help="registry namespace (default: %(default)s)")
    parser.add_argument("--registry", default="localhost:5000", help="registry HOST:PORT (default: %(default)s)")
    parser.add_argument("--prefix", default="", help="image name prefix (default: none)")
    parser.add_argument("--tag", default="latest", help="image tag (default: %(default)s)")
    parser.add_argument("--label", dest="labels", action="append", default=[],
                        help="KEY=VALUE label for every image (repeatable); adds or replaces that key only")
    parser.add_argument("--threads", type=int, default=2,
                        help="images built at once, 1 to %d (default: %%(default)s)" % MAX_THREADS)
    parser.add_argument("--engine", default="buildah", choices=["buildah", "docker"],
                        help="build engine: buildah, or docker through the Docker SDK (default: %(default)s)")
    parser.add_argument("--docker-host", dest="docker_host", default="",
                        help="Docker daemon for --engine docker (default: DOCKER_HOST, else the local socket)")
    parser.add_argument("--work-dir", dest="work_dir", default="/var/tmp/containergen",
                        help="logs, progress and summary (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def add_build_arguments(parser):
    add_image_arguments(parser)
    parser.add_argument("--push", action="store_true", help="publish to --registry after building")
    parser.add_argument("--volume", dest="volumes", action="append", default=[],
                        help="HOST:CONTAINER[:OPTIONS] bind mount for RUN steps only (repeatable)")
    parser.add_argument("--repo-dir", dest="repo_dir", default=None,
                        help="host directory of package repository definitions, mounted for RUN steps at the "
                             "profile's place (/etc/yum.repos.d or /etc/apt/sources.list.d)")
    parser.add_argument("--authfile", default=DEFAULT_AUTHFILE,
                        help="registry credentials file for --push; when given, it must exist (default: %(default)s)")
    parser.add_argument("--skip-build", dest="skip_build", action="store_true",
                        help="validate and print the plan only")
    parser.add_argument("--build-timeout", dest="build_timeout", type=int, default=1800,
                        help="seconds one image may take, 1 to 604800 (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="rebuild even unchanged images")


def add_publish_arguments(parser):
    parser.add_argument("--registry", default="localhost:5000", help="registry HOST:PORT (default: %(default)s)")
    parser.add_argument("--engine", default="buildah", choices=["buildah", "docker"],
                        help="the store the local images are in (default: %(default)s)")
    parser.add_argument("--docker-host", dest="docker_host", default="",
                        help="Docker daemon for --engine docker (default: DOCKER_HOST, else the local socket)")
    parser.add_argument("--namespace", default="containergen", help="registry namespace (default: %(default)s)")
    parser.add_argument("--tag", default="latest", help="floating tag, or a static release tag like 4.0.0")
    parser.add_argument("--image", dest="images", action="append", default=[],
                        help="image to publish (repeatable; default: every built image)")
    parser.add_argument("--prefix", default="", help="local image name prefix")
    parser.add_argument("--local-namespace", dest="local_namespace", default="localhost/containergen",
                        help="namespace of the local images to publish (default: %(default)s)")
    parser.add_argument("--local-tag", dest="local_tag", default="latest",
                        help="tag of the local images to publish (default: %(default)s)")
    parser.add_argument("--authfile", default=DEFAULT_AUTHFILE,
                        help="registry credentials file; when given, it must exist (default: %(default)s)")
    parser.add_argument("--lock-file", dest="lock_file", default="/var/tmp/containergen/images.lock",
                        help="lock file path without extension (default: %(default)s)")
    parser.add_argument("--work-dir", dest="work_dir", default="/var/tmp/containergen")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _key_values(items, option):
    result = {}
    for item in items:
        if "=" not in item:
            raise CLIError("%s %r: expected KEY=VALUE" % (option, item))
        key, value = item.split("=", 1)
        result[key] = value
    return result


def _profile(args):
    if args.profile:
        return args.profile
    if args.distro or args.release:
        key = ((args.distro or "").lower(), str(args.release or ""))
        if key not in DISTRO_PROFILES:
            raise CLIError("--distro %s --release %s: no profile (known: %s)" % (
                key[0], key[1], ", ".join("%s %s" % k for k in sorted(DISTRO_PROFILES))))
        return DISTRO_PROFILES[key]
    return "debian13"


def _config_file_images(path):
    """Image names from tripleoclient's container_images file (registry/namespace/prefix-name:tag)."""
    import yaml  # pylint: disable=import-outside-toplevel
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CLIError("--config-file %s: %s" % (path, exc))
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


def _show(value):
    return _collection_utils()[0].show(value)


def _collection_utils():
    """The collection's _options and _validate (the same checks as the modules'), from this checkout."""
    path = os.path.join(REPO, ".cache", "collections")
    if path not in sys.path:
        sys.path.insert(0, path)
    from ansible_collections.containergen.images.plugins.module_utils import _options, _validate  # pylint: disable=import-outside-toplevel
    return _options, _validate


def _docker_host(value):
    if value and not re.match(r"(unix|tcp|ssh|npipe)://\S+\Z", value):
        return "must be a Docker daemon URL such as unix:///run/docker.sock or tcp://127.0.0.1:2375"
    return None


def _profile_name(value):
    profiles = os.path.join(REPO, "vars", "profiles")
    known = sorted(os.path.splitext(f)[0] for f in os.listdir(profiles) if f.endswith((".yml", ".yaml")))
    return None if value in known else "unknown profile (known: %s)" % ", ".join(known)


def _key_value_check(key_check):
    def check(value):
        if "=" not in value:
            return "expected KEY=VALUE"
        return key_check(value.split("=", 1)[0])
    return check


def _given_file(options, default):
    """A file option whose default may be absent, but whose given value must exist."""
    def check(value):
        return None if value == default else options.existing_file(value)
    return check


def _checks(command):
    """(option, dest, check, repeatable) of command, in the order the options are documented."""
    options, validate = _collection_utils()
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
    return {"plan": image, "build": build, "publish": publish, "report": report}[command]


def check_args(command, args):
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
    if command in ("plan", "build"):
        try:
            _profile(args)
            if args.config_file:
                _config_file_images(args.config_file)
        except CLIError as exc:
            raise UsageError(str(exc))


def build_variables(args):
    """Role variables of the build playbook from parsed options."""
    includes = list(args.includes)
    if getattr(args, "config_file", None):
        includes += _config_file_images(args.config_file)
    variables = {
        "image_build_profile": _profile(args),
        "image_build_include": includes,
        "image_build_exclude": list(args.excludes),
        "image_build_namespace": "localhost/%s" % args.namespace.strip("/"),
        "image_build_prefix": args.prefix,
        "image_build_tag": args.tag,
        "image_build_labels": _key_values(args.labels, "--label"),
        "image_build_template_vars": _key_values(args.tcib_extras, "--tcib-extras"),
        "image_build_threads": args.threads,
        "image_build_engine": args.engine,
        "image_build_docker_host": args.docker_host,
        "image_build_work_dir": args.work_dir,
    }
    for option, key in (("config_path", "image_build_definitions_path"), ("extra_config", "image_build_extra_config"),
                        ("base", "image_build_base_image")):
        value = getattr(args, option, None)
        if value:
            variables[key] = os.path.abspath(value) if option != "base" else value
    if hasattr(args, "volumes"):
        volumes = list(args.volumes)
        if args.repo_dir:
            target = "/etc/apt/sources.list.d" if variables["image_build_profile"].startswith("debian") \
                else "/etc/yum.repos.d"
            volumes.append("%s:%s:ro" % (os.path.abspath(args.repo_dir), target))
        variables.update(image_build_volumes=volumes, image_build_timeout=args.build_timeout,
                         image_build_force=args.force)
    return variables


def publish_variables(args, local_namespace=None):
    """Role variables of the publish playbook. local_namespace: that of images just built (build --push,
    which publishes them under --tag); else --local-namespace and --local-tag."""
    if local_namespace is None:
        local_namespace = getattr(args, "local_namespace", None) or "localhost/containergen"
        local_tag = getattr(args, "local_tag", None) or "latest"
    else:
        local_tag = args.tag
    return {
        "publish_registry": args.registry,
        "publish_namespace": args.namespace,
        "publish_tag": args.tag,
        "publish_images": list(getattr(args, "images", []) or []),
        "publish_local_namespace": local_namespace,
        "publish_local_prefix": args.prefix,
        "publish_local_tag": local_tag,
        "publish_authfile": args.authfile,
        "publish_lock_file": getattr(args, "lock_file", None) or os.path.join(args.work_dir, "images.lock"),
        "publish_summary_file": os.path.join(args.work_dir, "publish-summary.json"),
        "publish_engine": getattr(args, "engine", "buildah"),
        "publish_docker_host": getattr(args, "docker_host", ""),
    }


def environment():
    """ansible-playbook's environment: this checkout's collection and configuration."""
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".cache", "collections"))
    env.setdefault("ANSIBLE_CONFIG", os.path.join(REPO, "ansible.cfg"))
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def run_playbook(playbook, variables, progress_file=None, out=sys.stdout, tags=None, verbose=False):
    """Run containergen.images.PLAYBOOK with variables from a 0600 file; stream progress lines.

    Returns the playbook output; raises CLIError with one line naming the failed task on failure.
    """
    fd, vars_file = tempfile.mkstemp(prefix="containergen-vars-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp creates it 0600
            json.dump(variables, handle)
        argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                "containergen.images." + playbook, "-e", "@" + vars_file]
        if tags:
            argv += ["--tags", tags]
        if progress_file:
            os.makedirs(os.path.dirname(progress_file), exist_ok=True)
            open(progress_file, "w", encoding="utf-8").close()
        stop = threading.Event()
        follower = threading.Thread(target=_follow, args=(progress_file, out, stop), daemon=True) \
            if progress_file else None
        try:
            returncode, stdout, stderr, signum = _run_interruptible(argv, environment(), follower)
        finally:
            stop.set()
            if follower and follower.is_alive():
                follower.join()
        if signum is not None:
            raise Interrupted(signum)
        if verbose:
            out.write(stdout)
        if returncode < 0:
            raise CLIError("ansible-playbook was killed by %s; the build stopped" % signal.Signals(-returncode).name)
        if returncode != 0:
            raise CLIError(_failure_line(stdout + stderr))
        return stdout
    finally:
        os.unlink(vars_file)


# How long an interrupted run may take to stop once ansible-playbook has exited (the build module
# kills its steps and removes its working containers); longer, and the command gives up waiting.
STOP_TIMEOUT = 120


def _run_interruptible(argv, env, follower=None):
    """Run ansible-playbook in its own process group; returns (returncode, stdout, stderr, signum).

    SIGINT or SIGTERM to this process is forwarded to that group (ansible-playbook passes it on to
    its workers and the module), and the call returns only once ansible-playbook and every process
    it started are gone: signum is then the signal received. A Ctrl-C reaches only this process,
    which forwards it once. ansible-playbook gets SIGTERM if this process dies."""
    state = {"signum": None, "proc": None}

    def forward(signum, frame):
        state["signum"] = signum
        if state["proc"] is not None:
            _killpg(state["proc"].pid, signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, forward)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, start_new_session=True, preexec_fn=_die_with_parent())
        state["proc"] = proc
        if state["signum"] is not None:
            _killpg(proc.pid, state["signum"])
        if follower:
            follower.start()
        output = {}
        reader = threading.Thread(target=lambda: output.update(zip(("stdout", "stderr"), proc.communicate())),
                                  daemon=True)
        reader.start()
        family = {}
        while reader.is_alive():  # polled: signal handlers run in this thread, and the family changes
            family.update(_descendants(proc.pid))
            reader.join(0.5)
        proc.wait()
        if state["signum"] is not None or proc.returncode < 0:  # the module may still be stopping
            _wait_gone(family, STOP_TIMEOUT)
        return proc.returncode, output.get("stdout") or "", output.get("stderr") or "", state["signum"]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _killpg(pgid, signum):
    try:
        os.killpg(pgid, signum)
    except OSError:
        pass


def _die_with_parent():
    """preexec_fn giving the child SIGTERM when this process dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec():
        prctl(1, signal.SIGTERM, 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    return preexec


def _start_time(pid):
    """A live process's start time from /proc (None when gone or a zombie): pids are reused."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X", "x") else fields[19]


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


def _follow(path, out, stop):
    """Print each line appended to path until stop is set (and once more after)."""
    position = 0
    while True:
        finished = stop.is_set()
        try:
            with open(path, encoding="utf-8") as handle:
                handle.seek(position)
                chunk = handle.read()
                position = handle.tell()
        except OSError:
            chunk = ""
        if chunk:
            out.write(chunk)
            out.flush()
        if finished:
            return
        time.sleep(0.2)


def _failure_line(output):
    """The most useful single line of a failed playbook run."""
    for pattern in (r'"msg": "((?:[^"\\]|\\.)*)"', r"\[ERROR\]: (.*)"):
        found = re.findall(pattern, output)
        if found:
            text = found[-1].encode().decode("unicode_escape", "replace") if pattern.startswith('"') else found[-1]
            return " ".join(text.split())[:1000]
    tail = [line for line in output.strip().splitlines() if line.strip()]
    return tail[-1] if tail else "ansible-playbook failed"


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def build(args, out=sys.stdout):
    """containergen build: plan, build, optionally publish. Returns the summary dict."""
    check_args("build", args)
    variables = build_variables(args)
    if args.skip_build:
        return plan(args, out)
    run_playbook("build", variables, os.path.join(args.work_dir, "progress.log"), out)
    summary = read_json(os.path.join(args.work_dir, "summary.json"))
    if args.push:
        publish_vars = publish_variables(args, local_namespace=variables["image_build_namespace"])
        publish_vars["publish_images"] = [r["name"] for r in summary["images"]]
        run_playbook("publish", publish_vars, out=out)
        summary["published"] = read_json(publish_vars["publish_summary_file"])
    return summary


def publish(args, out=sys.stdout):
    check_args("publish", args)
    variables = publish_variables(args)
    run_playbook("publish", variables, out=out)
    return read_json(variables["publish_summary_file"])


def plan(args, out=sys.stdout):
    """The plan, from the library directly: it only reads."""
    check_args("plan", args)
    _collection_utils()
    from ansible_collections.containergen.images.plugins.module_utils import _pipeline  # pylint: disable=import-outside-toplevel
    from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # pylint: disable=import-outside-toplevel
    from ansible_collections.containergen.images.plugins.module_utils._definitions import DefinitionError  # pylint: disable=import-outside-toplevel
    variables = build_variables(args)
    params = {"definitions_path": variables.get("image_build_definitions_path"), "profile": variables["image_build_profile"],
              "include": variables["image_build_include"], "exclude": variables["image_build_exclude"],
              "namespace": variables["image_build_namespace"], "prefix": args.prefix, "tag": args.tag,
              "labels": variables["image_build_labels"], "template_vars": variables["image_build_template_vars"],
              "extra_config": variables.get("image_build_extra_config"),
              "base_image": variables.get("image_build_base_image")}
    try:
        return _pipeline.plan_images(params, runner=Runner())
    except DefinitionError as exc:
        raise CLIError("invalid image definitions: " + " | ".join(exc.problems))
