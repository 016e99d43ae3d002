import Foundation
import StrictJSON
import TestSupport
import Testing

/// Admin over TLS: with a certificate configured, `pxe-catalog nginx-config` adds a TLS server for
/// the console and the admin API, and the plain-HTTP server (where machines boot) refuses admin
/// requests with a sentence that names the HTTPS address. A self-signed certificate from openssl.
@Suite(.serialized) struct TLSTests {
    @Test func thePlainServerRefusesAdminRequestsAndNamesTheHTTPSAddress() throws {
        let server = TestServer()
        server.directory.write(PNGFixtures.named("one"), to: "catalog/one.rts.png")
        server.tls = try server.makeSelfSignedCertificate()
        try server.start()
        defer { server.stop() }
        let https = "https://127.0.0.1:\(server.tlsPort)/"

        // Booting machines and public reads stay on plain HTTP.
        #expect(try server.request("GET", "/pxe/menu.ipxe").status == 200)
        #expect(try server.request("GET", "/containers").status == 200)

        // A change, or any request carrying a token, is refused by nginx before the worker sees it.
        let refresh = try server.request("POST", "/catalog/refresh")
        #expect(refresh.status == 403)
        #expect(refresh.headers["content-type"]?.hasPrefix("application/json") == true)
        let sentence = try #require(try JSONParser.parse(refresh.body)["error"]?.stringValue)
        #expect(sentence == "Admin requests are not accepted over plain HTTP, where anyone on the boot network can read the token; use \(https) instead.")
        let audit = try server.request("GET", "/audit", headers: ["Authorization: Bearer \(TestServer.adminToken)"])
        #expect(audit.status == 403 && audit.text.contains(https))
        let listing = try JSONParser.parse(server.request("GET", "/containers").body)
        let id = try #require(listing["containers"]?[0]?["id"]?.stringValue)
        #expect(try server.request("POST", "/pxe/\(id)/toggle", body: #"{"enabled": false}"#).status == 403)
        #expect(try server.request("POST", "/pxe/\(id)/toggle", body: #"{"enabled": false}"#, authorized: false).status == 403)
        // The console moves to HTTPS, path kept.
        let console = try server.request("GET", "/console/")
        #expect(console.status == 301)
        #expect(console.headers["location"] == "\(https)console/")

        // Over TLS everything works, admin included; the refused refresh never reached the worker.
        let secureConsole = try server.request("GET", "/console/", secure: true)
        #expect(secureConsole.status == 200)
        #expect(secureConsole.headers["content-security-policy"]?.contains("script-src 'self'") == true)
        #expect(try server.request("GET", "/pxe/menu.ipxe", secure: true).status == 200)
        let enabled = try JSONParser.parse(server.request("GET", "/pxe", secure: true).body)["count"]
        #expect(enabled == .int(1), "the entry is still enabled: nothing was changed over plain HTTP")
        #expect(try server.request("POST", "/pxe/\(id)/toggle", body: #"{"enabled": false}"#, secure: true).status == 200)
        #expect(try server.request("POST", "/catalog/refresh", secure: true).status == 200)
    }

    @Test func aLabMayAllowAdminOverPlainHTTP() throws {
        let server = TestServer()
        server.tls = try server.makeSelfSignedCertificate()
        server.nginxConfig = "\"admin_over_plain_http\": true, \"https_url\": \"https://boot.example.test\""
        try server.start()
        defer { server.stop() }
        #expect(try server.request("POST", "/catalog/refresh").status == 200)
        #expect(try server.request("GET", "/console/").status == 200)
        #expect(try server.request("POST", "/catalog/refresh", secure: true).status == 200)
    }

    @Test func aCertificateWithoutItsKeyIsRefusedNamingTheMissingKey() throws {
        let server = TestServer()
        let config = server.directory.write(Array(#"{"nginx": {"tls_certificate": "/etc/ssl/certs/x.pem"}}"#.utf8), to: "tls-config.json")
        let result = try TestServer.run(TestServer.binary, ["nginx-config", "--config", config])
        #expect(result.status != 0)
        #expect(result.stderr.contains("'nginx.tls_certificate_key'") && result.stderr.contains("is required with nginx.tls_certificate:"), "\(result.stderr)")
    }
}
