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
        let fd = try open(socket: path)
        defer { close(fd) }
        send(fd, requestRecords(params: params) + stdinRecords(stdin, end: true))
        return reply(from: Sockets.exchange(fd, []))
    }

    /// A connected socket to the worker, for requests sent in pieces (`send`, then `readReply`).
    public static func open(socket path: String) throws -> Int32 {
        guard let fd = Sockets.connectUnix(path: path, receiveTimeout: 60) else { throw TestServerError(message: "cannot connect to \(path)") }
        return fd
    }

    /// Sends `bytes`; returns how many went out before the peer stopped taking them.
    @discardableResult
    public static func send(_ fd: Int32, _ bytes: [UInt8]) -> Int {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return sent }
            sent += n
        }
        return sent
    }

    /// Reads until the worker closes the connection and decodes what it sent.
    public static func readReply(_ fd: Int32) -> Reply { reply(from: Sockets.exchange(fd, [])) }

    /// BEGIN_REQUEST and the params, as nginx sends them before the body.
    public static func requestRecords(params: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = record(type: 1, content: [0, 1, 0, 0, 0, 0, 0, 0])   // BEGIN_REQUEST, responder
        var pairs: [UInt8] = []
        for (name, value) in params { pairs += length(name.utf8.count) + length(value.count) + Array(name.utf8) + value }
        for chunk in stride(from: 0, to: pairs.count, by: 65535) { out += record(type: 4, content: Array(pairs[chunk..<min(chunk + 65535, pairs.count)])) }
        out += record(type: 4, content: [])
        return out
    }

    /// Body bytes as STDIN records; `end` adds the empty record that closes the body.
    public static func stdinRecords(_ stdin: [UInt8], end: Bool) -> [UInt8] {
        var out: [UInt8] = []
        for chunk in stride(from: 0, to: stdin.count, by: 65535) { out += record(type: 5, content: Array(stdin[chunk..<min(chunk + 65535, stdin.count)])) }
        if end { out += record(type: 5, content: []) }
        return out
    }

    static func reply(from received: [UInt8]) -> Reply {
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
