import Foundation

/// A minimal FastCGI client (responder role) for talking to the worker's socket directly,
/// the way nginx does, but able to send what nginx never would: raw bytes in params, a body
/// that does not match CONTENT_LENGTH.
public enum FastCGIClient {
    public struct Reply {
        public var headers: [String: String]
        public var status: Int
        public var body: [UInt8]
        public var raw: [UInt8]
    }

    public static func request(socket path: String, params: [(String, [UInt8])], stdin: [UInt8] = []) throws -> Reply {
        guard let fd = Sockets.connectUnix(path: path) else { throw TestServerError(message: "cannot connect to \(path)") }
        defer { close(fd) }

        var out: [UInt8] = record(type: 1, content: [0, 1, 0, 0, 0, 0, 0, 0])   // BEGIN_REQUEST, responder
        var pairs: [UInt8] = []
        for (name, value) in params { pairs += length(name.utf8.count) + length(value.count) + Array(name.utf8) + value }
        for chunk in stride(from: 0, to: pairs.count, by: 65535) { out += record(type: 4, content: Array(pairs[chunk..<min(chunk + 65535, pairs.count)])) }
        out += record(type: 4, content: [])
        for chunk in stride(from: 0, to: stdin.count, by: 65535) { out += record(type: 5, content: Array(stdin[chunk..<min(chunk + 65535, stdin.count)])) }
        out += record(type: 5, content: [])
        let received = Sockets.exchange(fd, out)
        var stdout: [UInt8] = []
        var offset = 0
        while offset + 8 <= received.count {
            let type = received[offset + 1]
            let contentLength = Int(received[offset + 4]) << 8 | Int(received[offset + 5])
            let padding = Int(received[offset + 6])
            if type == 6 { stdout += received[(offset + 8)..<min(received.count, offset + 8 + contentLength)] }
            offset += 8 + contentLength + padding
        }
        let separator: [UInt8] = [13, 10, 13, 10]
        var headerEnd = stdout.count
        for i in 0..<max(0, stdout.count - 3) where Array(stdout[i..<i + 4]) == separator { headerEnd = i; break }
        var headers: [String: String] = [:]
        for line in String(decoding: stdout[0..<headerEnd], as: UTF8.self).components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let status = stdout.isEmpty ? 0 : Int(headers["status"]?.split(separator: " ").first ?? "200") ?? 0
        let body = headerEnd + 4 <= stdout.count ? Array(stdout[(headerEnd + 4)...]) : []
        return Reply(headers: headers, status: status, body: body, raw: stdout)
    }

    /// Params as nginx would send them for `method path`.
    public static func params(method: String, documentURI: [UInt8], contentLength: Int? = nil, extra: [(String, [UInt8])] = []) -> [(String, [UInt8])] {
        var params: [(String, [UInt8])] = [("REQUEST_METHOD", Array(method.utf8)), ("DOCUMENT_URI", documentURI),
                                          ("QUERY_STRING", []), ("SERVER_PROTOCOL", Array("HTTP/1.1".utf8))]
        if let contentLength { params.append(("CONTENT_LENGTH", Array(String(contentLength).utf8))) }
        return params + extra
    }

    static func record(type: UInt8, content: [UInt8]) -> [UInt8] {
        [1, type, 0, 1, UInt8(content.count >> 8), UInt8(content.count & 0xFF), 0, 0] + content
    }

    static func length(_ n: Int) -> [UInt8] {
        n < 128 ? [UInt8(n)] : [UInt8((n >> 24) | 0x80), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
    }
}
