import FastCGI
import Testing

/// The CGI header block the transport writes before each body, byte for byte: nginx parses it.
@Suite struct HeaderBlockTests {
    static func block(_ response: FastCGIResponse, reason: String = "OK") -> String {
        var bytes: [UInt8] = []
        response.appendHeaderBlock(reasonPhrase: reason, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func statusThenHeadersInOrderThenTheLengthThenABlankLine() {
        let response = FastCGIResponse(status: 200, headers: [("Content-Type", "application/json"), ("ETag", "\"7\""), ("X-Accel-Redirect", "/_pxe_internal/0/a.rts.png")],
                                       body: [1, 2, 3], contentLength: 3)
        #expect(Self.block(response) == "Status: 200 OK\r\nContent-Type: application/json\r\nETag: \"7\"\r\nX-Accel-Redirect: /_pxe_internal/0/a.rts.png\r\nContent-Length: 3\r\n\r\n")
    }

    @Test func withoutALengthTheBlockEndsAfterTheHeaders() {
        #expect(Self.block(FastCGIResponse(status: 304), reason: "Not Modified") == "Status: 304 Not Modified\r\n\r\n")
    }

    @Test func headersThatCouldSplitTheBlockAreDropped() {
        let response = FastCGIResponse(status: 404, headers: [
            ("X-Good", "kept"), ("X-Injected", "a\r\nSet-Cookie: stolen=1"), ("X-Line", "a\nb"), ("X-Nul", "a\u{0}b"),
            ("Bad Name", "v"), ("Bad:Name", "v"), ("", "v"), ("X-Also-Good", "välue"),
        ])
        #expect(Self.block(response, reason: "Not Found") == "Status: 404 Not Found\r\nX-Good: kept\r\nX-Also-Good: välue\r\n\r\n")
    }

    /// The transport reuses one buffer per thread: a block is appended, never replaces.
    @Test func theBlockIsAppendedToWhatTheBufferHolds() {
        var bytes = Array("previous".utf8)
        FastCGIResponse(status: 204).appendHeaderBlock(reasonPhrase: "No Content", to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "previousStatus: 204 No Content\r\n\r\n")
    }
}
