"""What a page said and did while a test watched it: console errors, uncaught exceptions,
Content-Security-Policy violations, dialogs (an `alert()` from injected markup), failed
responses and navigations (a live page must never reload itself)."""

from __future__ import annotations

from dataclasses import dataclass, field

from playwright.async_api import ConsoleMessage, Dialog, Error, Frame, Page, Response

# Runs before the page's own scripts; injected by the browser, so the page's CSP does not apply.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.heraldCspViolation(e.violatedDirective + " blocked " + (e.blockedURI || "inline")
    + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@dataclass
class Witness:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)
    navigations: list[str] = field(default_factory=list)

    @classmethod
    async def attach(cls, page: Page) -> Witness:
        """Start watching `page` (before its first navigation)."""
        witness = cls()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                where = message.location.get("url", "")
                witness.console_errors.append(f"{message.text} ({where})")

        def on_page_error(error: Error) -> None:
            witness.page_errors.append(f"{error.name}: {error.message}")

        async def on_dialog(dialog: Dialog) -> None:
            witness.dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()

        def on_response(response: Response) -> None:
            if response.status >= 400:
                witness.failed_responses.append(f"{response.status} {response.url}")

        def on_navigated(frame: Frame) -> None:
            if frame == page.main_frame:
                witness.navigations.append(frame.url)

        def on_csp_violation(report: str) -> None:
            witness.csp_violations.append(report)

        await page.expose_function("heraldCspViolation", on_csp_violation)
        await page.add_init_script(_CSP_LISTENER)
        page.on("console", on_console)
        page.on("pageerror", on_page_error)
        page.on("dialog", on_dialog)
        page.on("response", on_response)
        page.on("framenavigated", on_navigated)
        return witness

    def troubles(self) -> dict[str, list[str]]:
        """Everything that went wrong, by kind (empty when the page behaved)."""
        found = {
            "console errors": self.console_errors,
            "uncaught exceptions": self.page_errors,
            "CSP violations": self.csp_violations,
            "dialogs": self.dialogs,
            "failed responses": self.failed_responses,
        }
        return {kind: items for kind, items in found.items() if items}
