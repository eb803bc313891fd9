package dev.engram.server;

/**
 * An error answered to the client as {@code {"error": {"message", "type", "param", "code"}}} with an
 * HTTP status (OpenAI's error shape). {@code param} names the offending request field, or is null.
 */
final class ApiError extends RuntimeException {
    final int status;
    final String type;
    final String param;
    final String code;
    final Integer retryAfterSeconds;

    ApiError(int status, String type, String param, String code, String message, Integer retryAfterSeconds) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 400 invalid_request_error naming {@code param}. */
    static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, null, message, null);
    }

    static ApiError notFound(String param, String message) {
        return new ApiError(404, "invalid_request_error", param, "not_found", message, null);
    }

    static ApiError tooLarge(String message) {
        return new ApiError(413, "invalid_request_error", null, "request_too_large", message, null);
    }

    static ApiError busy(String message, int retryAfter) {
        return new ApiError(429, "rate_limit_error", null, "queue_full", message, retryAfter);
    }

    static ApiError timeout(String message) {
        return new ApiError(503, "timeout_error", null, "request_timeout", message, 1);
    }

    static ApiError unavailable(String message) {
        return new ApiError(503, "server_error", null, "unavailable", message, 1);
    }

    static ApiError unauthorized(String message) {
        return new ApiError(401, "authentication_error", null, "invalid_api_key", message, null);
    }

    static ApiError internal(String message) {
        return new ApiError(500, "server_error", null, null, message, null);
    }
}
