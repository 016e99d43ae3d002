import Foundation
import PXECatalog
import TestSupport
import Testing

/// An edge node: nginx alone with the site `nginx-config --edge` prints, in front of a node (the
/// built worker behind its own nginx). A boot storm at the edge fetches each slice of a part from
/// the node once.
@Suite(.serialized) struct EdgeCacheTests {
    @Test func fiftyParallelDownloadsAtTheEdgeReachTheNodeOncePerSlice() throws {
        let node = TestServer()
        let payload = DemoBytes.make(count: 64 << 20)
        let file = node.directory.write(payload, to: "catalog/big.rts.png")
        try node.start()
        defer { node.stop() }
        let id = CatalogEntry.id(forRealPath: file)

        let prefix = node.directory.subdirectory("edge")
        try FileManager.default.createDirectory(atPath: prefix + "/tmp", withIntermediateDirectories: true)
        var edge: Process?
        defer { if let edge, edge.isRunning { kill(edge.processIdentifier, SIGQUIT); edge.waitUntilExit() } }
        var port = 0
        for _ in 0..<10 where edge == nil {
            port = TestServer.freePort()
            let generated = try TestServer.run(TestServer.binary, ["nginx-config", "--config", node.configPath, "--edge", "http://127.0.0.1:\(node.port)",
                                                                   "--edge-cache", prefix + "/cache", "--listen", "127.0.0.1:\(port)", "--standalone", prefix])
            try #require(generated.status == 0, "\(generated.stderr)")
            try generated.stdout.write(toFile: prefix + "/nginx.conf", atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
            process.arguments = ["-p", prefix, "-c", prefix + "/nginx.conf"]
            process.standardError = FileHandle.nullDevice
            try process.run()
            if TestServer.waitFor(seconds: 20, { !process.isRunning || TestServer.canConnect(port: port) }), process.isRunning {
                edge = process
            } else if process.isRunning {
                kill(process.processIdentifier, SIGQUIT)
                process.waitUntilExit()
            }
        }
        try #require(edge != nil, "the edge nginx did not start")

        let url = "http://127.0.0.1:\(port)/containers/\(id)"
        let downloads = (0..<50).map { index -> (Process, String) in
            let output = prefix + "/download-\(index)"
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments = ["-s", "-f", "--max-time", "300", "-o", output, url]
            return (curl, output)
        }
        for (curl, _) in downloads { try curl.run() }
        for (index, (curl, output)) in downloads.enumerated() {
            curl.waitUntilExit()
            #expect(curl.terminationStatus == 0, "download \(index)")
            let identical = FileManager.default.contents(atPath: output).map { [UInt8]($0) == payload } ?? false
            #expect(identical, "download \(index) is not byte-identical")
            try? FileManager.default.removeItem(atPath: output)
        }
        let fetched = node.accessLog.split(separator: "\n").filter { $0.contains("GET /containers/\(id) ") }
        #expect(fetched.count == 64, "the node sent each 1 MiB slice once: \(fetched.count) requests")

        // Scripts pass through to the node, uncached.
        let script = try TestServer.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(port)/pxe/boot.ipxe"])
        #expect(script.stdout.hasPrefix("#!ipxe"))
    }
}
