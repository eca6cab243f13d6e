"""Email page: mailboxes and their status, Check Now, statistics, downloads, problems, the
unassigned list, the add-mailbox form and setup help."""

from __future__ import annotations

import reflex as rx

from finapp.components.controls import confirm, trash_button
from finapp.components.layout import card, empty_state, error_callout, page_shell
from finapp.state.email import EmailState

STATUS = (("connected", "green"), ("error", "red"), ("never", "gray"), "gray")
STATUS_TEXT = (
    ("connected", "connected"),
    ("error", "error"),
    ("never", "not checked yet"),
    ("disabled", "disabled"),
    ("unconfigured", "not configured"),
    "unknown",
)


def _stat(label: str, key: str, icon: str) -> rx.Component:
    return card(label, icon, rx.heading(EmailState.stats[key], size="7", id=f"email-stat-{key}"))


def _mailbox_row(m: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(m["name"], weight="medium"),
                rx.text(m["address"], size="1", color=rx.color("gray", 11)),
                spacing="0",
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.text(m["server"], size="2"),
                rx.text(
                    "folder ",
                    m["folder"],
                    " · after: ",
                    m["post_action"],
                    size="1",
                    color=rx.color("gray", 10),
                ),
                spacing="0",
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.badge(
                    rx.match(m["status"], *STATUS_TEXT),
                    color_scheme=rx.match(m["status"], *STATUS),
                    class_name="mailbox-status",
                ),
                rx.cond(
                    m["last_error"] != "",
                    rx.text(
                        m["last_error"], size="1", color=rx.color("red", 11), max_width="24rem"
                    ),
                ),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.cond(
                m["last_check"] != "",
                rx.moment(m["last_check"], from_now=True),
                rx.text("never", color=rx.color("gray", 9)),
            )
        ),
        rx.table.cell(
            rx.switch(
                checked=m["status"] != "disabled",
                on_change=lambda value: EmailState.toggle_mailbox(m["id"], value),
                aria_label="Enabled",
            )
        ),
        rx.table.cell(
            rx.cond(
                m["source"] == "ui",
                confirm(
                    trash_button("Remove mailbox"),
                    title="Remove this mailbox?",
                    description=[
                        "Its record of processed mail goes with it; the stored files stay."
                    ],
                    confirm_label="Remove",
                    on_confirm=EmailState.delete_mailbox(m["id"]),
                ),
                rx.text("from EMAIL_*", size="1", color=rx.color("gray", 10)),
            )
        ),
        align="center",
    )


def _mailboxes() -> rx.Component:
    return card(
        "Mailboxes",
        "inbox",
        rx.hstack(
            rx.button(
                rx.icon("refresh-cw", size=16),
                "Check now",
                loading=EmailState.checking,
                on_click=EmailState.check_now,
                id="check-now",
            ),
            rx.button(
                rx.icon("plus", size=16),
                "Add mailbox",
                variant="soft",
                on_click=EmailState.open_form,
            ),
            rx.cond(
                EmailState.checking,
                rx.hstack(rx.spinner(size="1"), rx.text("Checking…", size="2"), align="center"),
            ),
            rx.cond(
                EmailState.check_message != "",
                rx.text(EmailState.check_message, size="2", id="check-message"),
            ),
            align="center",
            spacing="3",
        ),
        error_callout(EmailState.error, width="100%"),
        rx.cond(
            EmailState.mailboxes.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Mailbox", "Server", "Status", "Last check", "On", "")
                        ]
                    )
                ),
                rx.table.body(rx.foreach(EmailState.mailboxes, _mailbox_row)),
                width="100%",
                variant="surface",
                id="mailboxes-table",
            ),
            empty_state(
                "mail",
                "No mailbox connected",
                "Set EMAIL_ADDRESS and EMAIL_PASSWORD (and EMAIL_IMAP_SERVER) before "
                "starting, or add a mailbox here.",
            ),
        ),
    )


def _downloads() -> rx.Component:
    return card(
        "Recent downloads",
        "download",
        rx.cond(
            EmailState.downloads.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("File", "Project", "From", "Subject", "Received")
                        ]
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        EmailState.downloads,
                        lambda d: rx.table.row(
                            rx.table.cell(
                                rx.link(
                                    d["file"],
                                    href="/api/files/" + d["file_id"] + "/content",
                                    is_external=True,
                                )
                            ),
                            rx.table.cell(
                                rx.link(d["project_id"], href="/projects?id=" + d["project_id"])
                            ),
                            rx.table.cell(rx.text(d["sender"], size="2")),
                            rx.table.cell(rx.text(d["subject"], size="2")),
                            rx.table.cell(
                                rx.cond(
                                    d["received_at"] != "",
                                    rx.moment(
                                        d["received_at"], format="YYYY-MM-DD HH:mm", local=True
                                    ),
                                )
                            ),
                        ),
                    )
                ),
                width="100%",
                id="email-downloads",
            ),
            rx.text("Nothing downloaded yet.", color=rx.color("gray", 10)),
        ),
    )


def _unassigned() -> rx.Component:
    return rx.cond(
        EmailState.unassigned.length() > 0,
        card(
            "Unassigned mail",
            "circle-help",
            rx.text(
                "No project id was found in these messages. Give each a project: its "
                "attachments are then fetched and stored.",
                size="2",
                color=rx.color("gray", 11),
            ),
            rx.vstack(
                rx.foreach(
                    EmailState.unassigned,
                    lambda u: rx.form(
                        rx.hstack(
                            rx.vstack(
                                rx.text(u["subject"], weight="medium", size="2"),
                                rx.text(
                                    u["sender"],
                                    " · ",
                                    u["attachments"],
                                    size="1",
                                    color=rx.color("gray", 10),
                                ),
                                spacing="0",
                                flex="1",
                            ),
                            rx.el.input(type="hidden", name="ledger_id", value=u["id"]),
                            rx.input(
                                name="project_id",
                                placeholder="project id",
                                required=True,
                                width="12rem",
                            ),
                            rx.button("Assign", type="submit", size="2"),
                            align="center",
                            width="100%",
                        ),
                        on_submit=EmailState.assign,
                        reset_on_submit=True,
                        width="100%",
                    ),
                ),
                width="100%",
                id="unassigned-mail",
            ),
        ),
    )


def _problems() -> rx.Component:
    return card(
        "Skipped and failed mail",
        "triangle-alert",
        rx.cond(
            EmailState.problems.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Status", "From", "Subject", "Reason")
                        ]
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        EmailState.problems,
                        lambda p: rx.table.row(
                            rx.table.cell(
                                rx.badge(
                                    p["status"],
                                    color_scheme=rx.cond(p["status"] == "failed", "red", "gray"),
                                )
                            ),
                            rx.table.cell(rx.text(p["sender"], size="2")),
                            rx.table.cell(rx.text(p["subject"], size="2")),
                            rx.table.cell(
                                rx.text(p["reason"], size="2", color=rx.color("gray", 11))
                            ),
                        ),
                    )
                ),
                width="100%",
                id="email-problems",
            ),
            rx.text("None.", color=rx.color("gray", 10)),
        ),
    )


def _field(label: str, name: str, **props: object) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", weight="medium"),
        rx.input(name=name, width="100%", **props),
        spacing="1",
        width="100%",
    )


def _form() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Add a mailbox"),
            rx.form(
                rx.vstack(
                    error_callout(EmailState.form_error, width="100%"),
                    rx.hstack(
                        _field("Name", "name", placeholder="invoices", required=True),
                        _field("Login (email address)", "address", required=True),
                        width="100%",
                    ),
                    _field(
                        "Password",
                        "password",
                        type="password",
                        required=True,
                        placeholder="an app password for Gmail / Outlook",
                    ),
                    rx.hstack(
                        _field(
                            "IMAP server",
                            "imap_server",
                            placeholder="imap.gmail.com",
                            required=True,
                        ),
                        rx.vstack(
                            rx.text("Security", size="2", weight="medium"),
                            rx.select(
                                ["ssl", "starttls", "none"],
                                value=EmailState.form_security,
                                on_change=EmailState.set_form_security,
                            ),
                            spacing="1",
                        ),
                        _field("Port", "imap_port", placeholder="993", type="number"),
                        width="100%",
                        align="end",
                    ),
                    rx.hstack(
                        _field("Folder", "folder", placeholder="INBOX"),
                        _field("Default project", "default_project", placeholder="(none)"),
                        width="100%",
                    ),
                    _field(
                        "Sender whitelist",
                        "sender_whitelist",
                        placeholder="bank@example.com, @accounting.example (empty: everyone)",
                    ),
                    rx.hstack(
                        rx.vstack(
                            rx.text("After processing", size="2", weight="medium"),
                            rx.select(
                                ["none", "seen", "move", "flag"],
                                value=EmailState.form_post_action,
                                on_change=EmailState.set_form_post_action,
                            ),
                            spacing="1",
                        ),
                        _field("Folder or keyword", "post_action_arg", placeholder="Processed"),
                        width="100%",
                        align="end",
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button("Add mailbox", type="submit"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=EmailState.save_mailbox,
                reset_on_submit=False,
            ),
            max_width="36rem",
        ),
        open=EmailState.form_open,
        on_open_change=EmailState.set_form_open,
    )


def _help() -> rx.Component:
    return card(
        "Setup help",
        "circle-help",
        rx.el.ul(
            rx.el.li(
                "Gmail: turn on 2-step verification, create an app password, use "
                "imap.gmail.com, ssl, port 993."
            ),
            rx.el.li(
                "Outlook / Microsoft 365: outlook.office365.com, ssl, port 993, with an "
                "app password where basic authentication is still allowed."
            ),
            rx.el.li(
                "Other servers: ssl (port 993) or starttls (port 143); certificates are "
                "verified — give a CA file for a private certificate authority."
            ),
            rx.el.li(
                "Project ids are read from the subject ([Q4_2024], Project Q4_2024, "
                "Project_Q4_2024) or a body line 'Project: Q4_2024'."
            ),
            style={"padding_left": "1.2rem", "line_height": "1.7", "font_size": "0.9rem"},
        ),
    )


def email_page() -> rx.Component:
    return page_shell(
        "Email",
        rx.cond(
            EmailState.loading,
            rx.center(rx.spinner(size="3"), padding="3rem", width="100%"),
            rx.vstack(
                _mailboxes(),
                rx.grid(
                    _stat("Emails processed", "processed", "mail-check"),
                    _stat("Files downloaded", "files", "file-down"),
                    _stat("Skipped", "skipped", "mail-minus"),
                    _stat("Failed", "failed", "mail-x"),
                    columns=rx.breakpoints(initial="2", lg="4"),
                    spacing="4",
                    width="100%",
                ),
                _unassigned(),
                _downloads(),
                _problems(),
                _help(),
                spacing="4",
                width="100%",
            ),
        ),
        _form(),
    )
