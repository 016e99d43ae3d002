import FastCGI
import PXEAPI

/// The FastCGI <-> API adapter: CGI params to an `HTTPRequest`, an `HTTPResponse` back. The
/// only place that knows both the transport's and the API's types.
enum FastCGIAdapter {
    /// Every CGI param `httpRequest(from:)` reads; the transport copies only these.
    static let paramsRead = ["HTTP_AUTHORIZATION", "HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_HOST", "SERVER_PORT", "REQUEST_METHOD", "DOCUMENT_URI", "SCRIPT_NAME", "QUERY_STRING", "REMOTE_ADDR"]

    /// Slow requests are answered on a thread of their own (see `RoutedRequest.runsLong`).
    static func reply(to request: FastCGIRequest, api: CatalogAPI) -> FastCGIServer.Reply {
        let routed = api.route(httpRequest(from: request))
        if routed.runsLong { return .later { fastCGIResponse(api.handle(routed)) } }
        return .now(fastCGIResponse(api.handle(routed)))
    }

    static func httpRequest(from request: FastCGIRequest) -> HTTPRequest {
        // Only the request headers the API reads: building all of them cost more than the
        // rest of a download request.
        var headers: [String: String] = [:]
        if let authorization = request.param("HTTP_AUTHORIZATION") { headers["authorization"] = authorization }
        if let ifMatch = request.param("HTTP_IF_MATCH") { headers["if-match"] = ifMatch }
        if let ifNoneMatch = request.param("HTTP_IF_NONE_MATCH") { headers["if-none-match"] = ifNoneMatch }
        // Debian's fastcgi_params sends nginx's $host (no port) as HTTP_HOST; the port the
        // request came in on makes it the address clients used (sanboot needs it absolute).
        if var host = request.param("HTTP_HOST") {
            // Bytes, not `contains(_: String)`: that one is Foundation's, a locale-aware search.
            if !host.utf8.contains(UInt8(ascii: ":")) || host.utf8.last == UInt8(ascii: "]"), let port = request.param("SERVER_PORT"), port != "80" { host += ":" + port }
            headers["host"] = host
        }
        let bodyProblem: HTTPRequest.BodyProblem? = request.bodyExceedsLimit ? .tooLarge
            : request.bodyShorterThanDeclared ? .shorterThanDeclared : nil
        let path = request.param("DOCUMENT_URI") ?? request.param("SCRIPT_NAME")
        // The peer's address as nginx saw it, for answer files only (templates get it, the boot
        // log records who fetched them); never a forwarded header, which the client could write.
        let remoteAddress = path?.utf8.starts(with: "/provision/".utf8) == true ? request.param("REMOTE_ADDR") : nil
        return HTTPRequest(
            method: request.param("REQUEST_METHOD") ?? "GET",
            path: path,
            query: request.param("QUERY_STRING") ?? "",
            headers: headers, body: request.body, bodyProblem: bodyProblem, remoteAddress: remoteAddress)
    }

    static func fastCGIResponse(_ response: HTTPResponse) -> FastCGIResponse {
        FastCGIResponse(status: response.status, headers: response.headers, body: response.body,
                        contentLength: response.contentLength)
    }
}
