import Foundation
import PXECatalog
import StrictJSON

/// An HTTP request as the API sees it: no sockets, no FastCGI.
package struct HTTPRequest: Sendable {
    package enum BodyProblem: Sendable, Equatable {
        case tooLarge
        case shorterThanDeclared
    }

    package var method: String
    /// The decoded, normalised path (nginx's `DOCUMENT_URI`); nil when it is not valid UTF-8.
    package var path: String?
    package var query: String
    /// Request headers the API uses (`authorization`), with lowercased names.
    package var headers: [String: String]
    /// The peer's address as nginx saw it (`REMOTE_ADDR`); the transport fills it in only for
    /// the routes that use it (answer files).
    package var remoteAddress: String?
    package var body: [UInt8]
    package var bodyProblem: BodyProblem?

    package init(method: String, path: String?, query: String = "", headers: [String: String] = [:],
                body: [UInt8] = [], bodyProblem: BodyProblem? = nil, remoteAddress: String? = nil) {
        self.remoteAddress = remoteAddress
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.bodyProblem = bodyProblem
    }
}

/// An HTTP response value; the transport turns it into CGI headers and a body.
extension HTTPRequest {
    /// The percent-decoded value of `key` in the query string (the first one), nil without it.
    package func queryValue(_ key: String) -> String? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == key { return String(parts[1]).removingPercentEncoding }
        }
        return nil
    }
}

package struct HTTPResponse: Sendable {
    package var status: Int
    package var headers: [(String, String)]
    package var body: [UInt8]
    /// The `Content-Length` to announce, set by `CatalogAPI.handle`: the body a GET gets, also
    /// for HEAD, whose body is dropped. A field rather than a header so that a cached response's
    /// header list is shared, never copied, on every request.
    package var contentLength: Int?
    /// What the boot log records of this answer (boot-path routes only).
    var bootEvent: BootEventNote?

    package init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    package func header(_ name: String) -> String? {
        headers.first(where: { $0.0.lowercased() == name.lowercased() })?.1
    }

    package var bodyText: String { String(decoding: body, as: UTF8.self) }

    package static func json(_ value: JSONValue, status: Int = 200) -> HTTPResponse {
        json(rawBody: value.serialized(), status: status)
    }

    /// A JSON response from an already serialised body.
    package static func json(rawBody: [UInt8], status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status,
                     headers: [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-cache")],
                     body: rawBody)
    }

    /// An error answer: the status and `{"error": "<sentence>"}`. The sentence must not hold
    /// server paths or other internals.
    package static func error(_ status: Int, _ message: String, headers extra: [(String, String)] = []) -> HTTPResponse {
        var response = json(.object([("error", .string(message))]), status: status)
        response.headers += extra
        return response
    }

    package static func text(_ text: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", contentType), ("Cache-Control", "no-store")],
                     body: Array(text.utf8))
    }
}
