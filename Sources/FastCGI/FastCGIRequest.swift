/// A request as the web server passed it: CGI params and the body. Values are raw bytes because
/// nginx passes the decoded URI, which may hold any byte; decoding is the application's call.
public struct FastCGIRequest: Sendable {
    public var params: [String: [UInt8]]
    public var body: [UInt8]
    /// The body was not read because CONTENT_LENGTH exceeded the configured limit.
    public var bodyExceedsLimit: Bool
    /// Fewer bytes arrived than CONTENT_LENGTH announced.
    public var bodyShorterThanDeclared: Bool

    public init(params: [String: [UInt8]], body: [UInt8] = [], bodyExceedsLimit: Bool = false, bodyShorterThanDeclared: Bool = false) {
        self.params = params
        self.body = body
        self.bodyExceedsLimit = bodyExceedsLimit
        self.bodyShorterThanDeclared = bodyShorterThanDeclared
    }

    /// A param as UTF-8 text; nil when absent or not valid UTF-8.
    public func param(_ name: String) -> String? {
        params[name].flatMap { String(validating: $0, as: UTF8.self) }
    }
}

/// A response in CGI form: a `Status` line, headers and a body.
public struct FastCGIResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The CGI header block. Headers whose name or value holds CR, LF or NUL are dropped, so no
    /// value can split the header block (nginx would honour the injected lines).
    public func headerBlock(reasonPhrase: String) -> [UInt8] {
        var text = "Status: \(status) \(reasonPhrase)\r\n"
        for (name, value) in headers where Self.isSafeHeader(name: name, value: value) {
            text += "\(name): \(value)\r\n"
        }
        text += "\r\n"
        return Array(text.utf8)
    }

    static func isSafeHeader(name: String, value: String) -> Bool {
        !name.isEmpty && !name.utf8.contains(where: { $0 <= 0x20 || $0 == UInt8(ascii: ":") || $0 >= 0x7F })
            && !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 })
    }
}
