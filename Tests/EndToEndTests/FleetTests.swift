import Foundation
import PXECatalog
import StrictJSON
import TestSupport
import Testing

/// A fleet: several workers, each behind its own nginx, sharing one real PostgreSQL that the
/// test starts itself (as `nobody`, on a unix socket in a temporary directory). The nodes see
/// the same catalog paths, so the same ids.
@Suite(.serialized, .enabled(if: PostgresServer.isInstalled && geteuid() == 0, "needs Debian's postgresql and root (to run it as nobody)"))
struct FleetTests {
    final class Fleet: @unchecked Sendable {
        let database: PostgresServer
        let catalog = TemporaryDirectory("pxe-catalog-fleet")
        let nodes: [TestServer]
        let ids: [String]

        /// `extraConfig`: more members of a node's configuration (by its index).
        init(nodes count: Int, entries: Int = 4, extraConfig: (TestServer) -> String = { _ in "" }) throws {
            database = try PostgresServer()
            try database.start()
            let url = try database.createDatabase()
            let catalog = self.catalog
            ids = (0..<entries).map { index in
                CatalogEntry.id(forRealPath: catalog.write(PNGFixtures.named("Entry \(index)"), to: "e\(index).rts.png"))
            }
            nodes = (0..<count).map { _ in
                TestServer(catalogRoot: catalog.path, stateConfig: #""backend": "postgresql", "postgresql_url": "\#(url)""#)
            }
            for node in nodes {
                node.extraConfig = extraConfig(node)
                try node.start()
            }
        }

        func stop() {
            for node in nodes { node.stop() }
            database.stop()
        }
    }

    /// (id, name, boot order, enabled) of every entry, in boot order, as a node lists them.
    static func view(_ node: TestServer) throws -> [String] {
        let list = try JSONParser.parse(node.request("GET", "/containers").body)
        guard case let .array(items)? = list["containers"] else { return [] }
        return items.compactMap { item -> (Int64, String)? in
            guard case let .string(id)? = item["id"], case let .int(order)? = item["boot_order"] else { return nil }
            return (order, "\(id) order=\(order) enabled=\(item["pxe_enabled"] == .bool(true))")
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    static func menuNames(_ node: TestServer) throws -> [String] {
        let list = try JSONParser.parse(node.request("GET", "/pxe").body)
        guard case let .array(items)? = list["pxe_containers"] else { return [] }
        return items.compactMap { if case let .string(name)? = $0["name"] { return name } else { return nil } }
    }

    /// Waits (bounded) until every node lists what the first one lists.
    static func agree(_ nodes: [TestServer], seconds: Double = 20) -> Bool {
        TestServer.waitFor(seconds: seconds) {
            guard let first = try? view(nodes[0]), let names = try? menuNames(nodes[0]) else { return false }
            return nodes.dropFirst().allSatisfy { (try? view($0)) == first && (try? menuNames($0)) == names }
        }
    }

    static func revision(_ node: TestServer, _ id: String) throws -> Int64? {
        let list = try JSONParser.parse(node.request("GET", "/containers").body)
        guard case let .array(items)? = list["containers"] else { return nil }
        for item in items where item["id"] == .string(id) { if case let .int(revision)? = item["revision"] { return revision } }
        return nil
    }

    /// Each node keeps GRUB's tree on its own disk, from the settings they share: a one-shot set
    /// on one node gives the machine its own menu on every node, and cancelling it removes it.
    @Test func everyNodesGRUBTreeFollowsAChangeMadeOnAnother() throws {
        let fleet = try Fleet(nodes: 2) { node in
            let directory = node.directory.path
            return #""dhcp": {"mode": "server", "interface": "lo", "range": "127.0.0.100-127.0.0.199", "uefi_boot": "shim-grub", "user": "root", "#
                + #""tftp_root": "\#(directory)/tftp", "log_file": "\#(directory)/dnsmasq.log"}"#
        }
        defer { fleet.stop() }
        let mac = "52:54:00:77:40:01"
        let own = "/tftp/grub/host-52-54-00-77-40-01.cfg"
        func shared(_ node: TestServer) -> String { (try? String(contentsOfFile: node.directory.path + "/tftp/grub/grub.cfg", encoding: .utf8)) ?? "" }
        for node in fleet.nodes {
            #expect(TestServer.waitFor(seconds: 20) { shared(node).contains("menuentry 'Boot from local disk'") }, "each node wrote its menu")
        }
        let set = try fleet.nodes[0].request("POST", "/hosts/\(mac)/next-boot", headers: ["Content-Type: application/json"],
                                            body: #"{"entry": "\#(fleet.ids[1])"}"#)
        try #require(set.status == 200, "\(set.text)")
        for node in fleet.nodes {
            // The machine's file is written before the shared menu that sends it there.
            #expect(TestServer.waitFor(seconds: 20) { shared(node).contains("configfile /grub/host-52-54-00-77-40-01.cfg") }, "\(node.directory.path)")
            #expect(FileManager.default.fileExists(atPath: node.directory.path + own))
        }
        #expect(try fleet.nodes[1].request("DELETE", "/hosts/\(mac)/next-boot").status == 200, "cancelled on the other node")
        for node in fleet.nodes {
            #expect(TestServer.waitFor(seconds: 20) { !FileManager.default.fileExists(atPath: node.directory.path + own) && !shared(node).contains(mac) })
        }
    }

    @Test func changesMadeOnOneNodeReachTheOthersAndConcurrentMovesStayDense() throws {
        let fleet = try Fleet(nodes: 3)
        defer { fleet.stop() }
        let (one, two, three) = (fleet.nodes[0], fleet.nodes[1], fleet.nodes[2])
        let ids = fleet.ids
        #expect(Self.agree(fleet.nodes), "the nodes start from one store")

        #expect(try one.request("POST", "/pxe/\(ids[1])/toggle", body: #"{"enabled": false}"#).status == 200)
        #expect(try one.request("POST", "/pxe/\(ids[0])/menu", body: #"{"name": "Rescue"}"#).status == 200)
        #expect(try one.request("POST", "/pxe/\(ids[3])/menu", body: #"{"boot_order": 0}"#).status == 200)
        #expect(Self.agree(fleet.nodes), "node 1's toggle, rename and move reach nodes 2 and 3: \((try? Self.view(two)) ?? []) vs \((try? Self.view(one)) ?? [])")
        #expect(try Self.menuNames(three) == ["Entry 3", "Rescue", "Entry 2"])

        // Moves on two nodes at once: orders stay dense and unique everywhere.
        let failures = LockedBox(0)
        let movers = [two, three].enumerated().map { index, node in
            Thread {
                for step in 0..<12 {
                    let id = ids[(step + index) % ids.count]
                    let status = (try? node.request("POST", "/pxe/\(id)/menu", body: #"{"boot_order": \#((step * 3 + index) % ids.count)}"#).status) ?? 0
                    if status != 200 { failures.update { $0 += 1 } }
                }
            }
        }
        for mover in movers { mover.start() }
        #expect(TestServer.waitFor(seconds: 120) { movers.allSatisfy(\.isFinished) })
        #expect(failures.value == 0)
        #expect(Self.agree(fleet.nodes))
        let orders = try Self.view(one).map { $0.split(separator: " ")[1] }
        #expect(orders == (0..<ids.count).map { "order=\($0)" }[...].map { Substring($0) }, "dense and unique: \(orders)")

        // If-Match: a change made elsewhere meanwhile makes the stale revision fail, and nothing changes.
        let stale = try #require(try Self.revision(two, ids[2]))
        #expect(try one.request("POST", "/pxe/\(ids[2])/menu", body: #"{"description": "changed on node 1"}"#).status == 200)
        #expect(Self.agree(fleet.nodes))
        let refused = try two.request("POST", "/pxe/\(ids[2])/toggle", headers: ["If-Match: \"\(stale)\""], body: #"{"enabled": false}"#)
        #expect(refused.status == 412)
        #expect(refused.text.contains("changed meanwhile"))
        let current = try #require(try Self.revision(two, ids[2]))
        #expect(refused.headers["etag"] == "\"\(current)\"")
        #expect(try Self.view(two).contains { $0.hasPrefix(ids[2]) && $0.hasSuffix("enabled=true") })
        let accepted = try two.request("POST", "/pxe/\(ids[2])/toggle", headers: ["If-Match: \"\(current)\""], body: #"{"enabled": false}"#)
        #expect(accepted.status == 200)
        #expect(accepted.headers["etag"] == "\"\(current + 1)\"")

        // One history for the fleet, newest first, with who did it.
        let audit = try three.request("GET", "/audit?limit=3", headers: ["Authorization: Bearer \(TestServer.adminToken)"])
        #expect(audit.status == 200)
        let records = try JSONParser.parse(audit.body)["records"]
        #expect(records?[0]?["field"] == .string("enabled") && records?[0]?["entry_id"] == .string(ids[2]))
        #expect(records?[0]?["old"] == .string("true") && records?[0]?["new"] == .string("false"))
        #expect(records?[1]?["field"] == .string("description") && records?[1]?["new"] == .string("changed on node 1"))
        #expect(try three.request("GET", "/audit").status == 401, "the history needs a token")
        #expect(try three.request("GET", "/audit?limit=0", headers: ["Authorization: Bearer \(TestServer.adminToken)"]).status == 400)
    }

    @Test func withPostgreSQLDownBootsGoOnWritesAre503AndTheFleetRecovers() throws {
        let fleet = try Fleet(nodes: 2)
        defer { fleet.stop() }
        let (one, two) = (fleet.nodes[0], fleet.nodes[1])
        let ids = fleet.ids
        #expect(try one.request("POST", "/pxe/\(ids[0])/toggle", body: #"{"enabled": false}"#).status == 200)
        #expect(Self.agree(fleet.nodes))
        let before = try Self.view(two)

        fleet.database.stop(mode: "immediate")
        var failedGETs: [String] = []
        for round in 0..<10 {
            for node in fleet.nodes {
                for path in ["/pxe/boot.ipxe", "/pxe/menu.ipxe", "/pxe", "/containers/\(ids[(round % 3) + 1])"] {
                    let status = (try? node.request("GET", path).status) ?? 0
                    if status != 200 { failedGETs.append("\(path): \(status)") }
                }
            }
        }
        #expect(failedGETs.isEmpty, "GETs failed while the database was down: \(failedGETs)")
        let refused = try one.request("POST", "/pxe/\(ids[1])/toggle", body: #"{"enabled": false}"#)
        #expect(refused.status == 503)
        #expect(refused.text.contains("the settings database is unreachable"), "\(refused.text)")
        #expect(refused.headers["retry-after"] != nil)
        #expect(try Self.view(one) == before, "nothing was half-applied")
        #expect(TestServer.waitFor(seconds: 20) {
            (try? JSONParser.parse(one.request("GET", "/status").body)["settings"]?["available"]) == .bool(false)
        }, "/status shows the store unavailable")
        #expect(try one.request("GET", "/metrics").text.contains("pxe_catalog_settings_store_available 0"))

        // A node restarted meanwhile starts from its local copy and serves the same menu.
        #expect(two.signalWorker(SIGTERM) == 0)
        try two.startWorker()
        #expect(try Self.view(two) == before)
        #expect(try JSONParser.parse(two.request("GET", "/status").body)["settings"]?["load"] == .string("local_copy"))
        #expect(two.workerLog.contains("Serving the local copy of the settings"))

        try fleet.database.start()
        #expect(TestServer.waitFor(seconds: 30) {
            (try? one.request("POST", "/pxe/\(ids[1])/toggle", body: #"{"enabled": false}"#).status) == 200
        }, "writes work again once the database is back")
        #expect(Self.agree(fleet.nodes), "both nodes (one of them started without the database) agree again")
        #expect(try Self.view(two).contains { $0.hasPrefix(ids[1]) && $0.hasSuffix("enabled=false") })
        #expect(TestServer.waitFor(seconds: 20) {
            (try? JSONParser.parse(two.request("GET", "/status").body)["settings"]?["available"]) == .bool(true)
        })
    }

    /// kill -9 of a worker while it writes: every change it acknowledged is in the database
    /// (another node shows it).
    @Test func killingAWorkerMidWriteLosesNoAcknowledgedChange() throws {
        let fleet = try Fleet(nodes: 2, entries: 3)
        defer { fleet.stop() }
        let (one, two) = (fleet.nodes[0], fleet.nodes[1])
        let acknowledged = LockedBox<[String: String]>([:])
        let stop = LockedBox(false)
        let writer = Thread {
            var step = 0
            while !stop.value {
                let id = fleet.ids[step % fleet.ids.count]
                let name = "n\(step)"
                guard let response = try? one.request("POST", "/pxe/\(id)/menu", body: #"{"name": "\#(name)"}"#), response.status == 200 else { break }
                acknowledged.update { $0[id] = name }
                step += 1
            }
        }
        writer.start()
        #expect(TestServer.waitFor(seconds: 60) { acknowledged.value.count == fleet.ids.count })
        one.signalWorker(SIGKILL)
        stop.value = true
        #expect(TestServer.waitFor(seconds: 30) { writer.isFinished })
        let expected = acknowledged.value
        // The last request may have been committed without its answer arriving: it is the only
        // one that may be newer than what was acknowledged.
        #expect(TestServer.waitFor(seconds: 20) {
            guard let list = try? JSONParser.parse(two.request("GET", "/pxe").body), case let .array(items)? = list["pxe_containers"] else { return false }
            return expected.allSatisfy { id, name in
                items.contains { item in
                    guard item["id"] == .string(id), case let .string(shown)? = item["pxe_name"] else { return false }
                    return shown == name || (Int(shown.dropFirst()) ?? -1) > (Int(name.dropFirst()) ?? 0)
                }
            }
        }, "acknowledged names: \(expected)")
    }
}
