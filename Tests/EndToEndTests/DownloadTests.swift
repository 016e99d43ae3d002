import Foundation
import PXECatalog
import StrictJSON
import TestSupport
import Testing

/// The built worker behind a real nginx on loopback: what clients of the HTTP API see.
@Suite(.serialized) struct DownloadTests {
    @Test func listsTheCatalogAndDownloadsByteIdenticalFiles() throws {
        let server = TestServer()
        let alpine = PNGFixtures.pixelRTS(payload: Array(repeating: 42, count: 300_000), fields: [("name", .string("Alpine"))])
        let path = server.directory.write(alpine, to: "catalog/alpine.rts.png")
        server.directory.write(PNGFixtures.named("Deep"), to: "catalog/a/b/deep.rts.png")
        server.directory.write(Array("not a png".utf8), to: "catalog/broken.rts.png")
        try server.start()
        defer { server.stop() }

        let listing = try server.request("GET", "/containers")
        #expect(listing.status == 200)
        let document = try JSONParser.parse(listing.body)
        #expect(document["count"] == .int(3))
        #expect(!listing.text.contains(server.directory.path), "no absolute server paths in responses")
        // A poll that names the listing's ETag gets a 304 without a body through nginx while
        // nothing changed (the boot cache is still preparing at first: its changes count).
        var unchanged: TestServer.Response?
        var tag: String?
        #expect(TestServer.waitFor(seconds: 60) {
            tag = try? server.request("GET", "/containers").headers["etag"]
            unchanged = try? server.request("GET", "/containers?limit=1", headers: ["If-None-Match: \(tag ?? "")"])
            return unchanged?.status == 304
        })
        #expect(unchanged?.body.isEmpty == true && unchanged?.headers["etag"] == tag)

        let id = CatalogEntry.id(forRealPath: path)
        let download = try server.request("GET", "/containers/\(id)")
        #expect(download.status == 200)
        #expect(download.body == alpine)
        #expect(download.headers["content-type"] == "image/png")
        #expect(download.headers["content-length"] == String(alpine.count))
        #expect(download.headers["x-accel-redirect"] == nil, "nginx consumes the redirect header")
        #expect(download.headers["etag"] != nil)

        let broken = try server.request("GET", "/containers/\(CatalogEntry.id(forRealPath: server.catalogRoot + "/broken.rts.png"))")
        #expect(broken.status == 200)
        #expect(broken.text == "not a png")
        #expect(server.workerStdout.isEmpty, "the worker logs to stderr only")
    }

    /// `GET /` promises Range (`config.range_requests`, which the previous server's clients read
    /// to decide whether to resume); nginx keeps that promise.
    @Test func nginxAnswersRangeHeadAndConditionalRequests() throws {
        let server = TestServer()
        let bytes = PNGFixtures.png(side: 64)
        let path = server.directory.write(bytes, to: "catalog/x.rts.png")
        try server.start()
        defer { server.stop() }
        let url = "/containers/\(CatalogEntry.id(forRealPath: path))"
        #expect(try JSONParser.parse(server.request("GET", "/").body)["config"]?["range_requests"] == .bool(true))

        let partial = try server.request("GET", url, headers: ["Range: bytes=0-9"])
        #expect(partial.status == 206)
        #expect(partial.body == Array(bytes[0..<10]))
        #expect(partial.headers["content-range"] == "bytes 0-9/\(bytes.count)")

        let tail = try server.request("GET", url, headers: ["Range: bytes=-5"])
        #expect(tail.body == Array(bytes.suffix(5)))

        let unsatisfiable = try server.request("GET", url, headers: ["Range: bytes=\(bytes.count + 10)-"])
        #expect(unsatisfiable.status == 416)

        let head = try server.request("HEAD", url)
        #expect(head.status == 200)
        #expect(head.headers["content-length"] == String(bytes.count))
        for path in [url, "/containers", "/"] {
            let raw = try server.rawRequest(Array("HEAD \(path) HTTP/1.0\r\nHost: localhost\r\n\r\n".utf8))
            let text = String(decoding: raw, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(text.hasSuffix("\r\n\r\n"), "HEAD \(path) must answer headers only")
        }

        let full = try server.request("GET", url)
        let etag = try #require(full.headers["etag"])
        let conditional = try server.request("GET", url, headers: ["If-None-Match: \(etag)"])
        #expect(conditional.status == 304)
    }

    @Test func awkwardFileNamesDownloadCorrectly() throws {
        let server = TestServer()
        let name = "my image 100% ?final# é ☃.rts.png"
        let bytes = PNGFixtures.named("awkward")
        let path = server.directory.write(bytes, to: "catalog/dir with space/\(name)")
        let plain = server.directory.write(PNGFixtures.named("top"), to: "catalog/\(name)")
        try server.start()
        defer { server.stop() }

        let viaID = try server.request("GET", "/containers/\(CatalogEntry.id(forRealPath: path))")
        #expect(viaID.status == 200)
        #expect(viaID.body == bytes)
        #expect(viaID.headers["content-disposition"]?.contains("filename*=UTF-8''my%20image%20100%25%20%3Ffinal%23%20%C3%A9%20%E2%98%83.rts.png") == true)

        let encoded = name.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let viaFiles = try server.request("GET", "/files/\(encoded)")
        #expect(viaFiles.status == 200)
        #expect(viaFiles.body == [UInt8](FileManager.default.contents(atPath: plain)!))
    }

    @Test func unknownIdsAndPathsAre404AndInternalLocationsAreNotReachable() throws {
        let server = TestServer()
        server.directory.write(PNGFixtures.png(), to: "catalog/x.rts.png")
        try server.start()
        defer { server.stop() }

        let unknown = try server.request("GET", "/containers/0123456789ab")
        #expect(unknown.status == 404)
        #expect(unknown.headers["content-type"] == "application/json; charset=utf-8")
        #expect(try JSONParser.parse(unknown.body)["error"] != nil)
        #expect(try server.request("GET", "/no/such/endpoint").status == 404)
        #expect(try server.request("GET", "/_pxe_internal/0/x.rts.png").status == 404)
        #expect(try server.request("GET", "/_pxe_internal/0/").status == 404)

        let wrongMethod = try server.request("DELETE", "/containers")
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.headers["allow"] == "GET, HEAD")
    }

    @Test func filesRejectsUnsafeNames() throws {
        let server = TestServer()
        server.directory.write(PNGFixtures.png(), to: "catalog/sub/inner.rts.png")
        server.directory.write(Array("secret".utf8), to: "outside.rts.png")
        server.directory.write(PNGFixtures.png(), to: "catalog/good.rts.png")
        try server.start()
        defer { server.stop() }

        #expect(try server.request("GET", "/files/good.rts.png").status == 200)
        #expect(try server.request("GET", "/files/missing.rts.png").status == 404)
        #expect(try server.request("GET", "/files/notes.txt").status == 404)
        for hostile in ["/files/sub%2Finner.rts.png", "/files/..%2Foutside.rts.png", "/files/%2e%2e%2foutside.rts.png",
                        "/files/..%5Coutside.rts.png", "/files/x%0D%0AX-Test:%20y.rts.png", "/files/%00.rts.png",
                        "/files/../outside.rts.png", "/files/%252e%252e%252foutside.rts.png"] {
            let response = try server.request("GET", hostile)
            #expect([400, 404].contains(response.status), "\(hostile) gave \(response.status)")
            #expect(response.text != "secret", "\(hostile) leaked a file outside the root")
            #expect(!response.text.contains(server.directory.path))
            #expect(response.headers["x-test"] == nil)
        }
    }
}
