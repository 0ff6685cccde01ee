"""`cryptopredict create-admin`: add the first admin, or promote an existing account."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import EmailStr, TypeAdapter, ValidationError

from cryptopredict.auth import service as auth_service
from cryptopredict.auth.models import Role
from cryptopredict.auth.schemas import UserCreate
from cryptopredict.cli.common import MIGRATE_HELP, database_errors, fail, open_database
from cryptopredict.core.errors import ConflictError

app = typer.Typer()

_EMAIL = TypeAdapter(EmailStr)


def _validation_problems(exc: ValidationError) -> str:
    """Field and reason for each problem, never the rejected value (it may be a password)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
        for e in exc.errors(include_input=False)
    )


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="Email address the admin logs in with.")],
    password: Annotated[
        str | None,
        typer.Option(
            envvar="CRYPTOPREDICT_ADMIN_PASSWORD",
            show_envvar=True,
            help="At least 8 characters. Omit it to be asked (hidden, twice): "
            "a password on the command line ends up in shell history.",
        ),
    ] = None,
    full_name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=MIGRATE_HELP)] = True,
) -> None:
    """Create an admin account, or promote the existing account with this email to admin."""
    try:
        email = _EMAIL.validate_python(email.strip()).lower()
    except ValidationError as exc:
        fail(f"invalid email {email!r}: {exc.errors(include_input=False)[0]['msg']}", code=2)
    settings, database, url = open_database(migrate=migrate)
    try:
        with database_errors(url), database.session_factory() as session:
            user = auth_service.get_by_email(session=session, email=email)
            if user is not None:
                if password is not None:
                    typer.echo("Note: the account exists; its password was not changed.")
                if not auth_service.promote_to_admin(session=session, user=user):
                    typer.echo(f"{email} is already an admin (id {user.id}).")
                    return
                typer.echo(f"Promoted {email} (id {user.id}) to admin.")
                if not user.is_active:
                    typer.echo("Note: the account is deactivated; activate it to log in.")
                return
            session.rollback()  # hold no transaction open while someone types
            if password is None:
                password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
            try:
                data = UserCreate(email=email, password=password, full_name=full_name)
            except ValidationError as exc:
                fail(_validation_problems(exc), code=2)
            try:
                user = auth_service.create(session=session, data=data, role=Role.ADMIN)
            except ConflictError as exc:
                fail(exc.message)
            typer.echo(f"Created admin {email} (id {user.id}).")
    finally:
        database.dispose()
