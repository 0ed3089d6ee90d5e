"""OpenAI's error answer, shared by every route of `inoculate serve` (its own module so the route
modules and the stores behind them can raise it without importing the app)."""

from __future__ import annotations


class ApiError(Exception):
    """An answer in OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def response(self):
        from fastapi.responses import JSONResponse

        kind = {401: "authentication_error", 404: "invalid_request_error"}.get(
            self.status, "invalid_request_error" if self.status < 500 else "server_error")
        return JSONResponse({"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}},
                            status_code=self.status)
