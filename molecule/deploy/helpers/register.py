# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Register the service users, services and endpoints in keystone, as kolla-ansible's
service-ks-register role does: project "service", roles admin and service for each service user.

  python register.py SPEC.json     (SPEC: {"region": ..., "secrets_dir": ..., "services": [
      {"user": "glance", "type": "image", "name": "glance", "url": "http://..."}, ...]})
The admin credentials come from the OS_* environment; each service user's password from the 0600
file secrets_dir/<user>, never from a command line.
"""

import json
import sys

import openstack


def main(path):
    with open(path, encoding="utf-8") as handle:
        spec = json.load(handle)
    conn = openstack.connect()
    identity = conn.identity
    project = identity.find_project("service", domain_id="default") or identity.create_project(
        name="service", domain_id="default", description="Service project")
    roles = {name: identity.find_role(name) or identity.create_role(name=name) for name in ("admin", "service")}
    for item in spec["services"]:
        with open("%s/%s" % (spec["secrets_dir"], item["user"]), encoding="utf-8") as handle:
            password = handle.read().strip()
        user = identity.find_user(item["user"], domain_id="default")
        if user is None:
            user = identity.create_user(name=item["user"], domain_id="default", password=password,
                                        default_project_id=project.id)
        for role in roles.values():
            identity.assign_project_role_to_user(project, user, role)
        service = identity.find_service(item["name"]) or identity.create_service(
            name=item["name"], type=item["type"])
        existing = {e.interface for e in identity.endpoints(service_id=service.id, region_id=spec["region"])}
        for interface in ("public", "internal", "admin"):
            if interface not in existing:
                identity.create_endpoint(service_id=service.id, interface=interface, url=item["url"],
                                         region_id=spec["region"])
    print("registered: %s" % ", ".join(item["name"] for item in spec["services"]))


if __name__ == "__main__":
    main(sys.argv[1])
