import Foundation
import Locking
import PXECatalog
import TestSupport
import Testing

/// The worker's GRUB tree in the TFTP root while `dhcp.uefi_boot` is `shim-grub`: rewritten
/// whole when the catalog changes, never seen half-written by a reader (dnsmasq).
@Suite struct GRUBTreeWriterTests {
    @Test func aReaderNeverSeesAHalfWrittenMenuWhileTogglesRewriteIt() throws {
        let server = TestServer()
        let directory = server.directory.path
        server.extraConfig = #""dhcp": {"mode": "server", "interface": "lo", "range": "127.0.0.100-127.0.0.199", "uefi_boot": "shim-grub", "user": "root", "#
            + #""tftp_root": "\#(directory)/tftp", "log_file": "\#(directory)/dnsmasq.log"}"#
        try ConsoleBrowserTests.packLinux(server, to: server.catalogRoot + "/alpha.rts.png", name: "Alpha", seed: 1)
        try ConsoleBrowserTests.packLinux(server, to: server.catalogRoot + "/beta.rts.png", name: "Beta", seed: 2)
        try server.start()
        defer { server.stop() }
        let menu = directory + "/tftp/grub/grub.cfg"
        @Sendable func read() -> String { (try? String(contentsOfFile: menu, encoding: .utf8)) ?? "" }
        try #require(TestServer.waitFor(seconds: 120) { read().contains("2. Beta (") }, "both entries prepared and in GRUB's menu:\n\(read())\n\(server.workerLog.suffix(2000))")
        let alpha = CatalogEntry.id(forRealPath: server.catalogRoot + "/alpha.rts.png")

        let reading = Locked(true)
        let seen = Locked<(reads: Int, torn: [String], withAlpha: Int, withoutAlpha: Int)>((0, [], 0, 0))
        let readerEnded = DispatchSemaphore(value: 0)
        let reader = Thread {
            defer { readerEnded.signal() }
            while reading.withLock({ $0 }) {
                let text = read()
                seen.withLock { state in
                    state.reads += 1
                    if !(text.hasPrefix("# pxe-catalog boot menu for GRUB:") && text.hasSuffix("\texit\n}\n")) { state.torn.append(String(text.suffix(80))) }
                    if text.contains("Alpha (") { state.withAlpha += 1 } else { state.withoutAlpha += 1 }
                }
            }
        }
        reader.start()
        for round in 0..<20 {
            let enabled = round % 2 == 1
            #expect(try server.request("POST", "/pxe/\(alpha)/toggle", body: #"{"enabled": \#(enabled)}"#).status == 200)
            // Each change reaches the file before the next one is made.
            #expect(TestServer.waitFor(seconds: 20) { read().contains("Alpha (") == enabled }, "round \(round)")
        }
        reading.withLock { $0 = false }
        #expect(readerEnded.wait(timeout: .now() + 30) == .success, "the reader stopped")
        let result = seen.withLock { $0 }
        #expect(result.torn.isEmpty, "half-written menus were read: \(result.torn.prefix(3))")
        #expect(result.withAlpha > 0 && result.withoutAlpha > 0, "the reader saw both versions: \(result.reads) reads")
        // The same text over HTTP, through nginx.
        let http = try server.request("GET", "/pxe/grub.cfg")
        #expect(http.status == 200 && http.text == read())
    }
}
