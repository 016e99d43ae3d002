import Glibc

/// A request as the web server passed it: CGI params and the body. Values are raw bytes because
/// nginx passes the decoded URI, which may hold any byte; decoding is the application's call.
/// The params live in one buffer (`NAME=VALUE` pairs) and are looked up by scanning: a request
/// carries about thirty, and hashing them all would cost more than the whole reply.
public struct FastCGIRequest: Sendable {
    private var storage: [UInt8]
    /// Name and value ranges in `storage`, in the order the server sent them.
    private var pairs: [(name: Range<Int>, value: Range<Int>)]
    public var body: [UInt8]
    /// The body was not read because CONTENT_LENGTH exceeded the configured limit.
    public var bodyExceedsLimit: Bool
    /// Fewer bytes arrived than CONTENT_LENGTH announced.
    public var bodyShorterThanDeclared: Bool

    public init(params: [(String, [UInt8])], body: [UInt8] = [], bodyExceedsLimit: Bool = false, bodyShorterThanDeclared: Bool = false) {
        storage = []
        pairs = []
        self.body = body
        self.bodyExceedsLimit = bodyExceedsLimit
        self.bodyShorterThanDeclared = bodyShorterThanDeclared
        for (name, value) in params { append(name: Array(name.utf8)[...], value: value[...]) }
    }

    mutating func append(name: ArraySlice<UInt8>, value: ArraySlice<UInt8>) {
        let nameStart = storage.count
        storage += name
        let valueStart = storage.count
        storage += value
        pairs.append((nameStart..<valueStart, valueStart..<storage.count))
    }

    /// Appends a param straight from libfcgi's buffer (no intermediate arrays).
    mutating func append(rawName: UnsafeRawBufferPointer, rawValue: UnsafeRawBufferPointer) {
        let nameStart = storage.count
        storage.append(contentsOf: rawName)
        let valueStart = storage.count
        storage.append(contentsOf: rawValue)
        pairs.append((nameStart..<valueStart, valueStart..<storage.count))
    }

    /// Empties the request, keeping its buffers for the next one.
    mutating func removeAll() {
        storage.removeAll(keepingCapacity: true)
        pairs.removeAll(keepingCapacity: true)
        if !body.isEmpty { body = [] }
        bodyExceedsLimit = false
        bodyShorterThanDeclared = false
    }

    mutating func reserve(bytes: Int, params: Int) {
        storage.reserveCapacity(bytes)
        pairs.reserveCapacity(params)
    }

    /// A param's raw bytes; nil when absent.
    public func paramBytes(_ name: String) -> ArraySlice<UInt8>? {
        var key = name
        let found = key.withUTF8 { wanted -> Range<Int>? in
            storage.withUnsafeBufferPointer { buffer -> Range<Int>? in
                for pair in pairs where pair.name.count == wanted.count {
                    if memcmp(buffer.baseAddress! + pair.name.lowerBound, wanted.baseAddress!, wanted.count) == 0 { return pair.value }
                }
                return nil
            }
        }
        return found.map { storage[$0] }
    }

    /// A param as UTF-8 text; nil when absent or not valid UTF-8.
    public func param(_ name: String) -> String? {
        // ASCII (nearly every param) is valid UTF-8 as it is: `String(validating:as:)`
        // instantiated generic metadata on every call, a tenth of a download request's time.
        paramBytes(name).flatMap { slice in
            slice.withUnsafeBufferPointer { bytes in
                bytes.allSatisfy { $0 < 0x80 } ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
            }
        }
    }
}

/// A response in CGI form: a `Status` line, headers and a body.
public struct FastCGIResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Sent as `Content-Length` when set (HEAD answers announce the length of a body they omit).
    public var contentLength: Int?

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = [], contentLength: Int? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.contentLength = contentLength
    }

    /// Appends the CGI header block to `block` (the transport reuses one buffer per thread).
    /// Headers whose name or value holds CR, LF or NUL are dropped, so no value can split the
    /// header block (nginx would honour the injected lines).
    public func appendHeaderBlock(reasonPhrase: String, to block: inout [UInt8]) {
        Self.append("Status: ", to: &block)
        Self.append(String(status), to: &block)
        block.append(0x20)
        Self.append(reasonPhrase, to: &block)
        // Single appends: an array literal here would allocate on every request.
        block.append(0x0D); block.append(0x0A)
        for (name, value) in headers where Self.isSafeHeader(name: name, value: value) {
            Self.append(name, to: &block)
            block.append(0x3A); block.append(0x20)
            Self.append(value, to: &block)
            block.append(0x0D); block.append(0x0A)
        }
        if let contentLength {
            Self.append("Content-Length: ", to: &block)
            Self.append(String(contentLength), to: &block)
            block.append(0x0D); block.append(0x0A)
        }
        block.append(0x0D); block.append(0x0A)
    }

    /// Appends a string's UTF-8 bytes in one copy.
    static func append(_ text: String, to block: inout [UInt8]) {
        var text = text
        text.withUTF8 { block.append(contentsOf: $0) }
    }

    static func isSafeHeader(name: String, value: String) -> Bool {
        var name = name
        var value = value
        let nameIsToken = name.withUTF8 { bytes in
            !bytes.isEmpty && !bytes.contains { $0 <= 0x20 || $0 == UInt8(ascii: ":") || $0 >= 0x7F }
        }
        return nameIsToken && value.withUTF8 { bytes in !bytes.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 } }
    }
}
