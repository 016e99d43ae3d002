import Foundation
import PXEAPI
import PXECatalog
import PXESettings
import StrictJSON
import TestSupport
import Testing

@Suite struct HandlerTests {
    @Test func indexDescribesTheServerWithoutPaths() {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A"), "bad.rts.png": Array("x".utf8)])
        let response = fixture.call("GET", "/")
        #expect(response.status == 200)
        #expect(response.bodyText.hasPrefix(#"{"server":"pxe-catalog","name":"pxe-catalog","version":"9.9.9","endpoints":{"/":"GET: this server, its endpoints and catalog counts","/containers":"#))
        #expect(response.bodyText.hasSuffix(#""/healthz":"GET: liveness for load balancers"},"catalog":{"enabled":true,"count":2,"pxe_enabled":1},"config":{"file_pattern":"*.rts.png"}}"#))
        #expect(!response.bodyText.contains(fixture.root.path))
    }

    @Test func listsContainersWithExactFields() {
        let payload = Array(repeating: UInt8(7), count: 100)
        let fixture = APIFixture(files: [
            "alpine.rts.png": PNGFixtures.pixelRTS(payload: payload, fields: [("name", .string("Alpine")), ("distro", .string("alpine"))]),
            "plain.rts.png": PNGFixtures.png(),
        ])
        let alpine = fixture.id("alpine.rts.png"), plain = fixture.id("plain.rts.png")
        let size = PNGFixtures.pixelRTS(payload: payload, fields: [("name", .string("Alpine")), ("distro", .string("alpine"))]).count
        let plainSize = PNGFixtures.png().count
        let hash = "d876885b7f40eae70bd1f5247a9854914fa5812ce63998e2d894a68e187967cb"   // hashlib.sha256(bytes([7] * 100))
        let response = fixture.call("GET", "/containers")
        #expect(response.status == 200)
        #expect(response.bodyText == """
        {"containers":[\
        {"id":"\(alpine)","name":"Alpine","filename":"alpine.rts.png","size":\(size),"url":"/containers/\(alpine)","thumbnail":null,\
        "kernel_version":null,"distro":"alpine","architecture":null,"grid_size":8,"format":"PixelRTS-2.0","format_version":2,\
        "type":null,"description":null,"content_version":null,"data_size":100,"data_hash":"\(hash)","valid":true,"problem":null,\
        "warnings":[],"pxe_enabled":true,"boot_order":0,"revision":1,"visual_description":null,"detected_objects":[],"analysis_problem":null,\
        "boot":{"kind":null,"ready":false,"state":"pending","verified":null,"problem":null,"parts":{},"cmdline":null,"secure_boot":null,"secure_boot_signer":null}},\
        {"id":"\(plain)","name":"plain","filename":"plain.rts.png","size":\(plainSize),"url":"/containers/\(plain)","thumbnail":null,\
        "kernel_version":null,"distro":null,"architecture":null,"grid_size":null,"format":null,"format_version":null,\
        "type":null,"description":null,"content_version":null,"data_size":null,"data_hash":null,"valid":true,"problem":null,\
        "warnings":[],"pxe_enabled":true,"boot_order":1,"revision":1,"visual_description":null,"detected_objects":[],"analysis_problem":null,\
        "boot":{"kind":null,"ready":false,"state":"pending","verified":null,"problem":null,"parts":{},"cmdline":null,"secure_boot":null,"secure_boot_signer":null}}\
        ],"count":2}
        """)
    }

    @Test func downloadIsAnXAccelRedirectWithEncodedSegments() {
        let fixture = APIFixture(files: ["sub dir/a%b?c é.rts.png": PNGFixtures.png()])
        let response = fixture.call("GET", "/containers/" + fixture.id("sub dir/a%b?c é.rts.png"))
        #expect(response.status == 200)
        #expect(response.body.isEmpty)
        #expect(response.header("X-Accel-Redirect") == "/_pxe_internal/0/sub%20dir/a%25b%3Fc%20%C3%A9.rts.png")
        #expect(response.header("Content-Type") == "image/png")
        #expect(response.header("Content-Disposition") == #"attachment; filename="a%b?c _.rts.png"; filename*=UTF-8''a%25b%3Fc%20%C3%A9.rts.png"#)
    }

    @Test func invalidContainersCanStillBeDownloaded() {
        let fixture = APIFixture(files: ["bad.rts.png": Array("garbage".utf8)])
        #expect(fixture.call("GET", "/containers/" + fixture.id("bad.rts.png")).header("X-Accel-Redirect") == "/_pxe_internal/0/bad.rts.png")
    }

    @Test func unknownOrVanishedIdIs404WithoutRedirect() {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.png()])
        for id in ["000000000000", "..%2F..%2Fetc", "0123456789AB", String(repeating: "a", count: 10_000)] {
            let response = fixture.call("GET", "/containers/\(id)")
            #expect(response.status == 404)
            #expect(response.header("X-Accel-Redirect") == nil)
            #expect(response.bodyText == #"{"error":"No container with that id is in the catalog."}"#)
        }
        fixture.root.remove("a.rts.png")
        let gone = fixture.call("GET", "/containers/" + fixture.id("a.rts.png"))
        #expect(gone.status == 404)
        #expect(gone.header("X-Accel-Redirect") == nil)
    }

    @Test func filesServesPlainNamesFromTheFilesRoot() {
        let fixture = APIFixture(files: ["plain name.rts.png": PNGFixtures.png(), "sub/inner.rts.png": PNGFixtures.png()])
        let response = fixture.call("GET", "/files/plain name.rts.png")
        #expect(response.status == 200)
        #expect(response.header("X-Accel-Redirect") == "/_pxe_internal/0/plain%20name.rts.png")
    }

    @Test(arguments: ["sub/inner.rts.png", "../x.rts.png", "..", ".", "a\\b.rts.png", "/etc/passwd", "x\u{0}.rts.png",
                      "x\r\nX-Accel-Redirect: /etc.rts.png", ".hidden.rts.png", "", "x\u{85}.rts.png"])
    func filesRejectsUnsafeNamesWith400(_ name: String) {
        let response = APIFixture().call("GET", "/files/" + name)
        #expect(response.status == 400)
        #expect(response.bodyText == #"{"error":"Invalid file name."}"#)
        #expect(response.header("X-Accel-Redirect") == nil)
    }

    /// A name longer than any file's (NAME_MAX, 255 bytes) is simply not there.
    @Test(arguments: ["missing.rts.png", "notes.txt", "a.rts.png.meta.json", String(repeating: "a", count: 300) + ".rts.png",
                      String(repeating: "é", count: 130) + ".rts.png"])
    func filesAnswers404ForOtherNamesAndMissingFiles(_ name: String) {
        let fixture = APIFixture(files: ["notes.txt": Array("x".utf8), "a.rts.png.meta.json": Array("{}".utf8)])
        let response = fixture.call("GET", "/files/" + name)
        #expect(response.status == 404)
        #expect(response.header("X-Accel-Redirect") == nil)
    }

    @Test func refreshReportsCounts() {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.png(), "b.rts.png": PNGFixtures.png()])
        fixture.root.remove("b.rts.png")
        fixture.root.write(PNGFixtures.png(), to: "c.rts.png")
        fixture.root.write(Array("junk".utf8), to: "d.rts.png")
        let response = fixture.call("POST", "/catalog/refresh")
        #expect(response.bodyText == #"{"success":true,"count":3,"message":"Catalog refreshed: 3 containers (2 added, 1 removed, 1 invalid).","added":2,"removed":1,"invalid":1}"#)
    }

    @Test func pxeListsEnabledValidEntriesInBootOrder() throws {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A"), "b.rts.png": PNGFixtures.named("B"),
                                         "c.rts.png": PNGFixtures.named("C"), "bad.rts.png": Array("x".utf8)])
        _ = try fixture.store.settings.setEnabled(false, id: fixture.id("b.rts.png"))
        let a = fixture.id("a.rts.png"), c = fixture.id("c.rts.png")
        let sizeA = PNGFixtures.named("A").count, sizeC = PNGFixtures.named("C").count
        #expect(fixture.call("GET", "/pxe").bodyText == """
        {"pxe_containers":[{"id":"\(a)","name":"A","url":"/containers/\(a)","boot_order":0,"size":\(sizeA),"pxe_name":null,"pxe_description":null,\
        "pxe_cmdline":null,"revision":1,"boot":{"kind":null,"ready":false,"state":"pending","problem":null}},\
        {"id":"\(c)","name":"C","url":"/containers/\(c)","boot_order":3,"size":\(sizeC),"pxe_name":null,"pxe_description":null,\
        "pxe_cmdline":null,"revision":1,"boot":{"kind":null,"ready":false,"state":"pending","problem":null}}],"count":2}
        """)
    }

    @Test(arguments: [("", true), ("{}", true), (" {} \n", true), (#"{"enabled": false}"#, false), (#"{"enabled": true}"#, true),
                      (#"{"enabled": false, "extra": 1}"#, false)])
    func toggleSetsTheFlag(body: String, expected: Bool) throws {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.png()])
        let id = fixture.id("a.rts.png")
        _ = try fixture.store.settings.setEnabled(!expected, id: id)
        let response = fixture.call("POST", "/pxe/\(id)/toggle", body: body)
        #expect(response.status == 200)
        // Revision 1 when the entry was adopted; the set-up's change is 2 when it changed anything.
        let revision = expected ? 3 : 2
        #expect(response.bodyText == #"{"success":true,"entry_id":"\#(id)","pxe_enabled":\#(expected),"revision":\#(revision)}"#)
        #expect(response.header("ETag") == "\"\(revision)\"")
        #expect(fixture.store.current.settings[id]?.enabled == expected)
    }

    @Test(arguments: [
        (#"{"enabled": 1}"#, #"{"error":"Field 'enabled' must be true or false, not a number."}"#),
        (#"{"enabled": "false"}"#, #"{"error":"Field 'enabled' must be true or false, not a string."}"#),
        (#"{"enabled": null}"#, #"{"error":"Field 'enabled' must be true or false, not a null."}"#),
        ("[true]", #"{"error":"The request body must be a JSON object such as {\"enabled\": true}."}"#),
        ("{enabled: true}", #"{"error":"The request body is not valid JSON: Invalid JSON at byte 1: expected a string key."}"#),
        (#"{"enabled": false, "enabled": true}"#, #"{"error":"Field 'enabled' appears more than once in the request body."}"#),
        // Only no body at all means "enable": whitespace is a body, and not JSON.
        ("  \n", #"{"error":"The request body is not valid JSON: Invalid JSON at byte 3: unexpected end of input."}"#),
    ])
    func toggleRejectsBadBodiesAndChangesNothing(body: String, expected: String) {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.png()])
        let id = fixture.id("a.rts.png")
        let response = fixture.call("POST", "/pxe/\(id)/toggle", body: body)
        #expect(response.status == 400)
        #expect(response.bodyText == expected)
        #expect(fixture.store.current.settings[id]?.enabled == true)
    }

    @Test func toggleOfUnknownIdIs404() {
        let response = APIFixture().call("POST", "/pxe/0123456789ab/toggle", body: "{}")
        #expect(response.status == 404)
    }

    @Test func oversizedOrShortBodiesAreRefused() {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.png()])
        let id = fixture.id("a.rts.png")
        #expect(fixture.call("POST", "/pxe/\(id)/toggle", bodyProblem: .tooLarge).status == 413)
        #expect(fixture.call("POST", "/pxe/\(id)/toggle", body: "{", bodyProblem: .shorterThanDeclared).status == 400)
    }
}

@Suite struct ListingTests {
    func fixture(_ count: Int) -> APIFixture {
        APIFixture(files: Dictionary(uniqueKeysWithValues: (0..<count).map { (String(format: "f%03d.rts.png", $0), PNGFixtures.named("N\($0)")) }))
    }

    func names(_ response: HTTPResponse) throws -> [String] {
        guard case let .array(items)? = try JSONParser.parse(response.body)["containers"] else { return [] }
        return items.compactMap { $0["name"]?.stringValue }
    }

    @Test func pagesWithLimitAndOffset() throws {
        let fixture = fixture(25)
        let page = fixture.call("GET", "/containers", query: "limit=10&offset=20")
        #expect(try names(page) == (20..<25).map { "N\($0)" })
        let document = try JSONParser.parse(page.body)
        #expect(document["count"] == .int(5))
        #expect(document["total"] == .int(25))
        #expect(document["offset"] == .int(20))
        #expect(document["limit"] == .int(10))
        #expect(try names(fixture.call("GET", "/containers", query: "offset=100")).isEmpty)
        // Any non-negative integer is an offset, also one beyond Int64: past the end, empty.
        let far = fixture.call("GET", "/containers", query: "offset=72175617997262372864")
        #expect(far.status == 200)
        #expect(try names(far).isEmpty)
        let all = try JSONParser.parse(fixture.call("GET", "/containers", query: "unrelated=1").body)
        #expect(all["count"] == .int(25))
        #expect(all["total"] == nil, "the default response stays as the previous server's")
    }

    @Test(arguments: ["limit=0", "limit=-1", "limit=x", "limit=10001", "offset=-1", "offset=abc", "offset=", "offset=+1", "offset=1e3"])
    func refusesBadPageParameters(_ query: String) throws {
        let response = fixture(3).call("GET", "/containers", query: query)
        #expect(response.status == 400)
        #expect(try JSONParser.parse(response.body)["error"] != nil)
    }

    /// The listings carry the catalog state as their ETag, the same for every page of one
    /// state; `If-None-Match` with it answers 304 and no body until something changes (a
    /// setting, a scan, the boot cache), and another worker process never matches.
    @Test func listingsAnswerNotModifiedWhileNothingChanged() throws {
        let fixture = fixture(3)
        let first = fixture.call("GET", "/containers")
        let tag = try #require(first.header("ETag"))
        #expect(fixture.call("GET", "/containers", query: "limit=1&offset=2").header("ETag") == tag)
        for presented in [tag, "W/" + tag, "\"other\", \(tag)", "*"] {
            let unchanged = fixture.call("GET", "/containers", query: "limit=1", headers: ["if-none-match": presented])
            #expect(unchanged.status == 304, "If-None-Match: \(presented)")
            #expect(unchanged.body.isEmpty && unchanged.header("ETag") == tag)
        }
        #expect(fixture.call("GET", "/containers", headers: ["if-none-match": "\"other\""]).status == 200)
        let pxeTag = try #require(fixture.call("GET", "/pxe").header("ETag"))
        #expect(fixture.call("GET", "/pxe", headers: ["if-none-match": pxeTag]).status == 304)

        _ = try fixture.store.settings.setEnabled(false, id: fixture.id("f000.rts.png"))
        let changed = fixture.call("GET", "/containers", query: "limit=1", headers: ["if-none-match": tag])
        #expect(changed.status == 200 && changed.header("ETag") != tag)
        #expect(fixture.call("GET", "/pxe", headers: ["if-none-match": pxeTag]).status == 200)
        let afterToggle = try #require(changed.header("ETag"))
        fixture.markAllReady()
        #expect(fixture.call("GET", "/containers", headers: ["if-none-match": afterToggle]).status == 200, "the boot cache changed")
        let afterBoot = try #require(fixture.call("GET", "/containers").header("ETag"))
        fixture.root.write(PNGFixtures.named("N9"), to: "f009.rts.png")
        fixture.store.refresh()
        #expect(fixture.call("GET", "/containers", headers: ["if-none-match": afterBoot]).status == 200, "a scan found a file")

        // A restarted worker counts its revisions from the start again: its tags are its own.
        let restarted = CatalogAPI(store: fixture.store, context: fixture.api.context, authorizer: fixture.api.authorizer)
        let current = try #require(fixture.call("GET", "/containers").header("ETag"))
        #expect(restarted.handle(HTTPRequest(method: "GET", path: "/containers", headers: ["if-none-match": current])).status == 200)
    }

    @Test func cachedListingFollowsChanges() throws {
        let fixture = fixture(3)
        #expect(fixture.call("GET", "/containers").bodyText.contains(#""pxe_enabled":true"#))
        _ = try fixture.store.settings.setEnabled(false, id: fixture.id("f000.rts.png"))
        #expect(fixture.call("GET", "/containers").bodyText.contains(#""pxe_enabled":false"#))
        fixture.root.write(PNGFixtures.named("N9"), to: "f009.rts.png")
        fixture.store.refresh()
        #expect(try names(fixture.call("GET", "/containers")).last == "N9")
        #expect(try JSONParser.parse(fixture.call("GET", "/pxe").body)["count"] == .int(3))
    }
}

@Suite struct DownloadCheckTests {
    @Test func aFileReplacedInPlaceIsStillServedAndASymlinkIsNot() throws {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A"), "b.rts.png": PNGFixtures.named("B")])
        // rsync-style replacement: a new inode renamed over the old name.
        fixture.root.write(PNGFixtures.named("A2"), to: ".a.tmp")
        try FileManager.default.removeItem(atPath: fixture.root.path + "/a.rts.png")
        try FileManager.default.moveItem(atPath: fixture.root.path + "/.a.tmp", toPath: fixture.root.path + "/a.rts.png")
        #expect(fixture.call("GET", "/containers/" + fixture.id("a.rts.png")).status == 200)
        // Replaced by a symlink (even one pointing inside the root): refused until a rescan.
        try FileManager.default.removeItem(atPath: fixture.root.path + "/b.rts.png")
        try FileManager.default.createSymbolicLink(atPath: fixture.root.path + "/b.rts.png", withDestinationPath: fixture.root.path + "/a.rts.png")
        let response = fixture.call("GET", "/containers/" + fixture.id("b.rts.png"))
        #expect(response.status == 404)
        #expect(response.header("X-Accel-Redirect") == nil)
    }
}
