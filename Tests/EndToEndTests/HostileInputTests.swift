import Foundation
import PXECatalog
import StrictJSON
import TestSupport
import Testing

/// Hostile ids, names, bodies and symlinks, through nginx and straight to the worker's socket.
@Suite(.serialized) struct HostileInputTests {
    static let hostileIDs = ["..", "../", "%2e%2e", "%2e%2e%2f", "%252e%252e%252f", "..%5c..%5cetc%5cpasswd", "%5c", "/etc/passwd",
                             "%2fetc%2fpasswd", "%00", "abc%00def", "%0d%0aX-Injected:%20yes", "%c0%ae%c0%ae", "%ff%fe",
                             "%e2%80%ae", String(repeating: "a", count: 10_000)]

    /// An error, or (where nginx normalised `..` away) some other API document; never file bytes.
    func expectHarmless(_ response: TestServer.Response, _ label: String, server: TestServer) {
        let isAPIDocument = response.headers["content-type"] == "application/json; charset=utf-8"
        #expect([400, 404, 414].contains(response.status) || (response.status == 200 && isAPIDocument),
                "\(label) gave \(response.status) \(response.headers["content-type"] ?? "")")
        #expect(response.headers["content-type"] != "image/png", "\(label) served a file")
        #expect(!response.text.contains(server.directory.path), "\(label) leaked a server path")
        #expect(!response.text.contains("root:"), "\(label) leaked a file")
        #expect(response.headers["x-injected"] == nil)
        #expect(response.headers["x-accel-redirect"] == nil)
    }

    @Test func hostileIdsAndNamesThroughNginxGetGenericErrors() throws {
        let server = TestServer()
        server.directory.write(PNGFixtures.png(), to: "catalog/x.rts.png")
        server.directory.write(Array("root:secret".utf8), to: "outside.rts.png")
        try server.start()
        defer { server.stop() }
        for id in Self.hostileIDs {
            expectHarmless(try server.request("GET", "/containers/\(id)"), "/containers/\(id.prefix(40))", server: server)
            expectHarmless(try server.request("GET", "/files/\(id)"), "/files/\(id.prefix(40))", server: server)
            expectHarmless(try server.request("GET", "/files/\(id).rts.png"), "/files/\(id.prefix(40)).rts.png", server: server)
            expectHarmless(try server.request("POST", "/pxe/\(id)/toggle", body: "{}"), "/pxe/\(id.prefix(40))/toggle", server: server)
        }
    }

    @Test func hostileRawParamsStraightToTheWorkerGetGenericErrors() throws {
        let server = TestServer()
        server.directory.write(PNGFixtures.png(), to: "catalog/x.rts.png")
        try server.start()
        defer { server.stop() }
        let socket = server.directory.path + "/worker.sock"
        let paths: [[UInt8]] = [
            Array("/containers/".utf8) + [0] + Array("abc".utf8),
            Array("/containers/".utf8) + [0xFF, 0xFE],
            Array("/files/".utf8) + [0xC0, 0xAE, 0xC0, 0xAE] + Array(".rts.png".utf8),
            Array("/files/a\r\nX-Accel-Redirect: /etc/x.rts.png".utf8),
            Array("/files/..\\..\\x.rts.png".utf8),
            Array("/files/../../etc/passwd.rts.png".utf8),
            Array("/files/\u{202E}gnp.str.rts.png".utf8),
            Array("/containers/".utf8) + [UInt8](repeating: 0x61, count: 10_000),
            Array("/files/".utf8) + [UInt8](repeating: 0x61, count: 10_000) + Array(".rts.png".utf8),
        ]
        for path in paths {
            let reply = try FastCGIClient.request(socket: socket, params: FastCGIClient.params(method: "GET", documentURI: path))
            let label = String(decoding: path.prefix(40), as: UTF8.self)
            #expect([400, 404].contains(reply.status), "\(label) gave \(reply.status)")
            #expect(reply.headers["x-accel-redirect"] == nil, "\(label) was redirected")
            #expect(!String(decoding: reply.raw, as: UTF8.self).contains(server.directory.path))
            #expect(try JSONParser.parse(reply.body)["error"] != nil)
        }
    }

    /// A started server with one container, its worker socket, the container's toggle path and
    /// the admin authorisation param, for requests straight to the worker.
    static func workerWithOneContainer() throws -> (TestServer, String, [UInt8], (String, [UInt8])) {
        let server = TestServer()
        let file = server.directory.write(PNGFixtures.png(), to: "catalog/x.rts.png")
        try server.start()
        return (server, server.directory.path + "/worker.sock",
                Array("/pxe/\(CatalogEntry.id(forRealPath: file))/toggle".utf8),
                ("HTTP_AUTHORIZATION", Array("Bearer \(TestServer.adminToken)".utf8)))
    }

    @Test func bodiesThatLieAboutTheirLengthOrAreTooLargeAreRefused() throws {
        let (server, socket, uri, auth) = try Self.workerWithOneContainer()
        defer { server.stop() }
        let short = try FastCGIClient.request(socket: socket, params: FastCGIClient.params(method: "POST", documentURI: uri, contentLength: 100, extra: [auth]),
                                              stdin: Array(#"{"enabled": false}"#.utf8))
        #expect(short.status == 400)
        let huge = try FastCGIClient.request(socket: socket, params: FastCGIClient.params(method: "POST", documentURI: uri, contentLength: 1_000_000_000, extra: [auth]),
                                             stdin: Array(#"{"enabled": false}"#.utf8))
        #expect(huge.status == 413)
        let pxe = try JSONParser.parse(server.request("GET", "/pxe").body)
        #expect(pxe["count"] == .int(1), "nothing changed")
    }

    @Test func symlinksLeavingTheRootAreNeverServed() throws {
        let server = TestServer()
        let outside = server.directory.write(Array("root:secret-outside-bytes".utf8), to: "outside/secret.rts.png")
        try FileManager.default.createSymbolicLink(atPath: server.catalogRoot + "/escape.rts.png", withDestinationPath: outside)
        server.directory.write(PNGFixtures.named("inner"), to: "catalog/sub/inner.rts.png")
        try server.start()
        defer { server.stop() }

        let listing = try JSONParser.parse(server.request("GET", "/containers").body)
        #expect(listing["count"] == .int(1), "the escaping symlink is not in the catalog")
        #expect(try server.request("GET", "/files/escape.rts.png").status == 404)
        #expect(try server.request("GET", "/containers/\(CatalogEntry.id(forRealPath: outside))").status == 404)

        // Swap a directory for a symlink to outside after the scan: the request-time check refuses.
        let innerID = CatalogEntry.id(forRealPath: server.catalogRoot + "/sub/inner.rts.png")
        #expect(try server.request("GET", "/containers/\(innerID)").status == 200)
        try FileManager.default.moveItem(atPath: server.catalogRoot + "/sub", toPath: server.directory.path + "/moved-sub")
        try FileManager.default.createDirectory(atPath: server.directory.path + "/outside/sub", withIntermediateDirectories: true)
        try "root:secret".write(toFile: server.directory.path + "/outside/sub/inner.rts.png", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: server.catalogRoot + "/sub", withDestinationPath: server.directory.path + "/outside/sub")
        let swapped = try server.request("GET", "/containers/\(innerID)")
        #expect(swapped.status == 404)
        #expect(!swapped.text.contains("secret"))
    }

    /// The transport reuses each thread's request buffers and copies only the params the API
    /// reads: a refused request must leave nothing behind for the next one on that thread, and a
    /// param whose name merely starts like a wanted one must not be taken for it.
    @Test func reusedRequestBuffersCarryNothingOverAndLookalikeParamsAreIgnored() throws {
        let (server, socket, uri, auth) = try Self.workerWithOneContainer()
        defer { server.stop() }
        // Two worker threads: eight rounds put refused and valid requests on both of them.
        for round in 0..<8 {
            let body = Array(#"{"enabled": \#(round % 2 == 0)}"#.utf8)
            let huge = try FastCGIClient.request(socket: socket, params: FastCGIClient.params(method: "POST", documentURI: uri, contentLength: 1_000_000_000, extra: [auth]), stdin: body)
            #expect(huge.status == 413)
            let valid = try FastCGIClient.request(socket: socket, params: FastCGIClient.params(method: "POST", documentURI: uri, contentLength: body.count, extra: [auth]), stdin: body)
            #expect(valid.status == 200, "round \(round): a valid request after a refused one")
            let get = try FastCGIClient.request(socket: socket, params: FastCGIClient.params(method: "GET", documentURI: Array("/pxe".utf8)))
            #expect(get.status == 200)
            #expect(get.headers["content-length"] == String(get.body.count))
        }
        // Lookalike names: a token under HTTP_AUTHORIZATION_X and a path under DOCUMENT_URI2.
        let lookalike = try FastCGIClient.request(socket: socket, params: [
            ("REQUEST_METHOD", Array("POST".utf8)), ("DOCUMENT_URI2", Array("/catalog/refresh".utf8)), ("DOCUMENT_URI", uri),
            ("HTTP_AUTHORIZATION_X", Array("Bearer \(TestServer.adminToken)".utf8)), ("CONTENT_LENGTH", Array("18".utf8)),
        ], stdin: Array(#"{"enabled": false}"#.utf8))
        #expect(lookalike.status == 401, "only HTTP_AUTHORIZATION carries the token")
        // HEAD announces the GET body's length without sending it.
        let head = try FastCGIClient.request(socket: socket, params: FastCGIClient.params(method: "HEAD", documentURI: Array("/pxe".utf8)))
        let get = try FastCGIClient.request(socket: socket, params: FastCGIClient.params(method: "GET", documentURI: Array("/pxe".utf8)))
        #expect(head.body.isEmpty)
        #expect(head.headers["content-length"] == String(get.body.count))
    }

    @Test func adminEndpointsNeedTheTokenThroughNginx() throws {
        let server = TestServer()
        let file = server.directory.write(PNGFixtures.png(), to: "catalog/x.rts.png")
        try server.start()
        defer { server.stop() }
        let path = "/pxe/\(CatalogEntry.id(forRealPath: file))/toggle"
        let anonymous = try server.request("POST", path, body: #"{"enabled": false}"#, authorized: false)
        #expect(anonymous.status == 401)
        #expect(anonymous.headers["www-authenticate"] == #"Bearer realm="pxe-catalog""#)
        let wrong = try server.request("POST", path, headers: ["Authorization: Bearer not-the-token-0123456"], body: #"{"enabled": false}"#, authorized: false)
        #expect(wrong.status == 401)
        #expect(try server.request("POST", "/catalog/refresh", authorized: false).status == 401)
        #expect(try JSONParser.parse(server.request("GET", "/pxe").body)["count"] == .int(1))
        #expect(try server.request("POST", path, body: #"{"enabled": false}"#).status == 200)
        #expect(try JSONParser.parse(server.request("GET", "/pxe").body)["count"] == .int(0))
    }
}
