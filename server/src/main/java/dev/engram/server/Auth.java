package dev.engram.server;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;

/** API keys: {@code Authorization: Bearer KEY}, compared by SHA-256 in constant time; a session's owner is its key's hash. */
final class Auth {
    private final List<byte[]> keyHashes = new ArrayList<>();

    Auth(List<String> apiKeys) {
        for (String k : apiKeys) {
            keyHashes.add(sha256(k));
        }
    }

    /** The caller's owner tag: "" without authentication, else a hash of the key; 401 for a missing or wrong key. */
    String authenticate(Request request) {
        if (keyHashes.isEmpty()) {
            return "";
        }
        String h = request.getHeaders().get(HttpHeader.AUTHORIZATION);
        if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw ApiError.unauthorized("an API key is required: send the header 'Authorization: Bearer <key>'");
        }
        byte[] given = sha256(h.substring(7).strip());
        boolean ok = false;
        for (byte[] k : keyHashes) {
            ok |= MessageDigest.isEqual(k, given);
        }
        if (!ok) {
            throw ApiError.unauthorized("Incorrect API key provided");
        }
        return HexFormat.of().formatHex(given, 0, 16);
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
