"""OpenStack client plugin: `openstack containergen image build|plan|publish`. No Keystone needed."""

from __future__ import annotations

API_NAME = "containergen"
API_VERSION_OPTION = "os_containergen_api_version"
API_VERSIONS = {"1": "containergen_cli.osc.plugin"}
DEFAULT_API_VERSION = "1"


def make_client(instance):  # pylint: disable=unused-argument
    """The commands run local tools; there is no service client."""
    return None


def build_option_parser(parser):
    parser.add_argument("--os-containergen-api-version", metavar="<containergen-api-version>",
                        default=DEFAULT_API_VERSION, help="containergen API version (default: 1)")
    return parser
