# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by integration test modules."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---- tls_registry: a real TLS registry with htpasswd auth, set up by the registry role -----------------
# A module using it sets REGISTRY_PORT (its own port: modules run at once on a shared host) and may set
# REGISTRY_STATE_DIR (default /var/tmp/cg-registry-PORT-RUNID) and REGISTRY_EXTRA_VARS, a function
# (state dir, work dir) -> more role variables (e.g. signing), which may write files into the work dir
# first. The fixture yields {"registry": "localhost:PORT", "authfile": 0600 authfile of the user, "user",
# "password_file": 0600 file holding the password, "state": the registry's state dir, "work": the
# module's work dir, "vars": the role's variables (to run the role or registry_gc again), "output": the
# role's output}; the registry is stopped and its state, CA trust (certs.d) and files removed at the end
# of the module.

@pytest.fixture(scope="module")
def tls_registry(request, tmp_path_factory):
    port = getattr(request.module, "REGISTRY_PORT", None)
    if not port:
        raise RuntimeError("%s: set REGISTRY_PORT to use the tls_registry fixture" % request.module.__name__)
    registry = "localhost:%d" % port
    base = tmp_path_factory.mktemp("tlsregistry%d" % port)
    state = getattr(request.module, "REGISTRY_STATE_DIR", None) or "/var/tmp/cg-registry-%d-%s" % (
        port, uuid.uuid4().hex[:8])
    password = secrets.token_urlsafe(18)
    password_file = base / "password"
    password_file.write_text(password + "\n")
    os.chmod(str(password_file), 0o600)
    variables = {
        "registry_port": port,
        "registry_config_dir": state + "/etc", "registry_data_dir": state + "/data",
        "registry_log_file": state + "/registry.log", "registry_pid_file": state + "/registry.pid",
        "registry_authfile": str(base / "auth.json"), "registry_bcrypt_cost": 5,
        "registry_users": [{"name": "publisher", "password": password}],
    }
    extra = getattr(request.module, "REGISTRY_EXTRA_VARS", None)
    if extra:
        variables.update(extra(state, base))
    vars_file = base / "vars.json"
    vars_file.write_text(json.dumps(variables))
    os.chmod(str(vars_file), 0o600)
    try:
        proc = subprocess.run(["ansible-playbook", "containergen.images.registry", "-e", "@%s" % vars_file],
                              cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        yield {"registry": registry, "authfile": str(base / "auth.json"), "user": "publisher",
               "password_file": str(password_file), "state": state, "work": str(base), "vars": variables,
               "output": proc.stdout + proc.stderr}
    finally:
        subprocess.run(["start-stop-daemon", "--stop", "--pidfile", variables["registry_pid_file"], "--retry",
                        "TERM/10/KILL/5", "--oknodo"], capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)
        for certs in ("/etc/containers/certs.d", "/etc/docker/certs.d"):
            shutil.rmtree(os.path.join(certs, registry), ignore_errors=True)

# ---- end of tls_registry ------------------------------------------------------------------------------
