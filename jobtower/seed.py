"""First start of the embedded default: the ``demo`` tenant and an admin token for it."""

from __future__ import annotations

from pathlib import Path

from domain.access import PrincipalKind, Role
from domain.models import Tenant
from domain.tenants import create_tenant, create_token

DEMO_SLUG = "demo"
TOKEN_FILE = "admin-token"


async def seed_demo(data_dir: Path) -> str:
    """The demo admin token; created with the tenant on first start, read back after."""
    token_file = data_dir / TOKEN_FILE
    if await Tenant.exists(slug=DEMO_SLUG) and token_file.exists():
        return token_file.read_text().strip()
    if not await Tenant.exists(slug=DEMO_SLUG):
        await create_tenant(DEMO_SLUG, "Demo")
    issued = await create_token(DEMO_SLUG, Role.ADMIN, "demo admin", kind=PrincipalKind.USER)
    data_dir.mkdir(parents=True, exist_ok=True)
    token_file.write_text(issued.token + "\n")
    token_file.chmod(0o600)
    return issued.token
