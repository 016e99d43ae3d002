import Foundation
import PXECatalog
import PixelRTS
import StrictJSON
import TestSupport
import Testing

/// The written contract as nginx serves it, and nginx's own errors in the API's shape. (Every
/// response of the end-to-end suite is also checked against the document by `make contract`.)
@Suite struct ContractTests {
    static var builtDocument: String { TestServer.repositoryRoot + "/.build/static/openapi.json" }

    /// How many operations (path and method) the built document describes.
    static func operationCount() throws -> Int {
        let document = try JSONParser.parse(try #require(FileManager.default.contents(atPath: builtDocument)).map { $0 })
        guard case let .object(paths)? = document["paths"] else { return 0 }
        let methods: Set<String> = ["get", "head", "post", "put", "patch", "delete", "options"]
        return paths.reduce(0) { count, path in
            guard case let .object(members) = path.1 else { return count }
            return count + members.filter { methods.contains($0.0) }.count
        }
    }

    @Test func nginxServesTheOpenAPIDocumentAndItListsExactlyTheServersEndpoints() throws {
        let server = TestServer()
        try server.start()
        defer { server.stop() }
        let served = try server.request("GET", "/openapi.json")
        #expect(served.status == 200)
        #expect(served.headers["content-type"] == "application/json; charset=utf-8")
        let built = try #require(FileManager.default.contents(atPath: Self.builtDocument), "make static builds \(Self.builtDocument)")
        #expect(served.body == [UInt8](built), "nginx serves the file make static built, byte for byte")
        let document = try JSONParser.parse(served.body)
        #expect(document["openapi"] == .string("3.1.0"))
        guard case let .object(paths)? = document["paths"], case let .object(endpoints)? = try JSONParser.parse(server.request("GET", "/").body)["endpoints"] else {
            Issue.record("the document has no paths or GET / no endpoints")
            return
        }
        // GET / lists the parts as one path each; the document has them as one template.
        let documented = Set(paths.map(\.0)).subtracting(["/containers/{id}/{part}"])
            .union(["kernel", "initrd", "disk", "payload"].map { "/containers/{id}/\($0)" })
        #expect(documented == Set(endpoints.map(\.0)))
    }

    @Test func errorsNginxAnswersItselfAreTheAPIsJSONErrors() throws {
        let server = TestServer(extraConfig: #""status": {"allow": ["192.0.2.1"], "public": ["healthz"]}"#)
        server.directory.write(PNGFixtures.named("one"), to: "catalog/one.rts.png")
        try server.start()
        defer { server.stop() }
        let refusedAddress = try server.request("GET", "/status")
        #expect(refusedAddress.status == 403)
        #expect(try JSONParser.parse(refusedAddress.body) == .object([("error", .string("Your address is not allowed to use this endpoint."))]))
        #expect(refusedAddress.headers["content-type"] == "application/json; charset=utf-8")

        let tooLarge = try server.request("POST", "/catalog/refresh", body: String(repeating: "x", count: 70_000))
        #expect(tooLarge.status == 413)
        #expect(try JSONParser.parse(tooLarge.body)["error"] == .string("The request body is larger than this server accepts."))

        let id = CatalogEntry.id(forRealPath: server.catalogRoot + "/one.rts.png")
        let outside = try server.request("GET", "/containers/\(id)", headers: ["Range: bytes=999999-"])
        #expect(outside.status == 416)
        #expect(try JSONParser.parse(outside.body)["error"] == .string("The requested range is outside the file."))

        // The worker stopped (a restart, a crash): nginx answers for it.
        #expect(server.signalWorker(SIGTERM) == 0)
        let workerDown = try server.request("GET", "/pxe")
        #expect(workerDown.status == 502)
        #expect(try JSONParser.parse(workerDown.body)["error"] == .string("The pxe-catalog worker is not answering; it may be restarting. Try again shortly."))
        #expect(!workerDown.text.contains("nginx"), "no server internals in the answer")
    }

    /// The boot path's scripts and HEAD of a file, through nginx (the QEMU tests fetch them
    /// with iPXE, which the response recorder does not see).
    @Test func bootScriptsAndHeadRequestsAnswerThroughNginx() throws {
        let server = TestServer()
        var kernel = PixelRTSFixtures.noise(count: 40_000, seed: 31)
        kernel.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        server.directory.write(kernel, to: "inputs/vmlinuz")
        try BootPartsTests.pack([server.catalogRoot + "/linux.rts.png", "--kernel", server.directory.path + "/inputs/vmlinuz", "--name", "Linux"])
        try server.start()
        defer { server.stop() }
        #expect(BootPartsTests.bootObjects(server)["linux.rts.png"]?["ready"] == .bool(true))
        let id = CatalogEntry.id(forRealPath: server.catalogRoot + "/linux.rts.png")

        let boot = try server.request("GET", "/pxe/boot.ipxe")
        #expect(boot.status == 200)
        #expect(boot.text.hasPrefix("#!ipxe\n"))
        let entry = try server.request("GET", "/pxe/\(id)/boot.ipxe")
        #expect(entry.status == 200)
        #expect(entry.text.contains("kernel ../../containers/\(id)/kernel || goto failed"))
        #expect(try server.request("GET", "/pxe/0123456789ab/boot.ipxe").status == 404)

        let size = try FileManager.default.attributesOfItem(atPath: server.catalogRoot + "/linux.rts.png")[.size] as? Int
        let head = try server.request("HEAD", "/files/linux.rts.png")
        #expect(head.status == 200)
        #expect(head.headers["content-length"].flatMap(Int.init) == size)
        #expect(head.body.isEmpty)
        #expect(try server.request("HEAD", "/files/missing.rts.png").status == 404)
    }

    static var tools: String { TestServer.repositoryRoot + "/.build/tools/bin" }

    /// schemathesis generates requests from docs/openapi.yaml (valid and invalid ones, every
    /// operation, also undeclared methods and missing tokens) against the real stack: no 5xx,
    /// every response as documented, and (Tests/Contract/contract_hooks.py) every refused change
    /// leaves the saved settings untouched. Bounded: a fixed seed, at most 300 cases per
    /// operation per round, two and a half minutes. Not under ThreadSanitizer (too slow there,
    /// and the plain pass covers it).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["E2E_SANITIZER"] == nil, "the plain pass fuzzes the API"))
    func aPropertyBasedFuzzerFindsNoServerErrorAndNothingOutsideTheDocument() throws {
        let server = TestServer()
        var kernel = PixelRTSFixtures.noise(count: 30_000, seed: 41)
        kernel.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        server.directory.write(kernel, to: "inputs/vmlinuz")
        server.directory.write(PixelRTSFixtures.noise(count: 9_000, seed: 42), to: "inputs/initrd.img")
        var disk = PixelRTSFixtures.noise(count: 64 << 10, seed: 43)
        disk[510] = 0x55
        disk[511] = 0xAA
        server.directory.write(disk, to: "inputs/disk.img")
        let inputs = server.directory.path + "/inputs"
        try BootPartsTests.pack([server.catalogRoot + "/linux.rts.png", "--kernel", inputs + "/vmlinuz", "--initrd", inputs + "/initrd.img",
                                 "--cmdline", "console=ttyS0", "--name", "Linux"])
        try BootPartsTests.pack([server.catalogRoot + "/disk.rts.png", "--disk", inputs + "/disk.img", "--name", "Disk"])
        server.directory.write(PNGFixtures.named("Plain picture"), to: "catalog/plain.rts.png")
        server.directory.write(Array("not a png".utf8), to: "catalog/broken.rts.png")
        try server.start()
        defer { server.stop() }
        #expect(BootPartsTests.bootObjects(server).count == 4)

        let work = server.directory.subdirectory("schemathesis")
        let report = work + "/report.json"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.tools + "/schemathesis")
        process.currentDirectoryURL = URL(fileURLWithPath: work)
        process.arguments = [
            "run", TestServer.repositoryRoot + "/.build/static/openapi.json", "--url", "http://127.0.0.1:\(server.port)",
            "-H", "Authorization: Bearer \(TestServer.adminToken)", "--checks", "all", "--workers", "1", "--seed", "20261201",
            "--max-examples", "300", "--max-time", "150", "--phases", "examples,coverage,fuzzing", "--generation-database", "none",
            "--request-timeout", "20", "--no-color", "--report", "json", "--report-json-path", report,
        ]
        process.environment = ProcessInfo.processInfo.environment.merging([
            "SCHEMATHESIS_HOOKS": "contract_hooks", "PYTHONPATH": TestServer.repositoryRoot + "/Tests/Contract",
            "CONTRACT_BASE_URL": "http://127.0.0.1:\(server.port)", "CONTRACT_SETTINGS_FILES": server.stateDirectory + "/settings.sqlite3:" + server.stateDirectory + "/settings.sqlite3-wal",
        ]) { $1 }
        // A change sent with a stale (but well-formed) If-Match is a valid request that is
        // refused with 412 by design: an expected answer to valid data.
        try """
        [checks.positive_data_acceptance]
        expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]

        """.write(toFile: work + "/schemathesis.toml", atomically: true, encoding: .utf8)
        let output = work + "/output.txt"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: output)
        process.standardError = process.standardOutput
        try process.run()
        process.waitUntilExit()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        // The run's size, for the log: "N generated, ..." (it varies with the machine's speed).
        if let size = text.split(separator: "\n").first(where: { $0.contains(" generated") }) { print("schemathesis: \(size.trimmingCharacters(in: .whitespaces))") }
        #expect(process.terminationStatus == 0, "schemathesis found problems:\n\(text.suffix(6000))")
        #expect(text.contains("Tested: \(try Self.operationCount())"), "every operation was exercised:\n\(text.suffix(2000))")
        #expect(!server.workerLog.contains("critical"), "the worker logged no critical problem")
        #expect(server.workerProcess?.isRunning == true, "the worker survived")
    }
}
