import BootScripts
import Foundation
import PXEAPI
import PXECatalog
import PXEHosts
import StrictJSON
import TestSupport
import Testing

/// GRUB's TFTP files from the catalog, the settings and the host policy, without sockets.
@Suite struct GRUBTreeTests {
    func fixture() throws -> (APIFixture, [String]) {
        try HostsEndpointTests().fixture()
    }

    @Test func theSharedMenuOffersWhatMenuIPXEOffersAndSendsShapedMachinesToTheirOwn() throws {
        let (fixture, ids) = try fixture()
        let response = fixture.call("GET", "/pxe/grub.cfg")
        #expect(response.status == 200)
        let menu = response.bodyText
        #expect(menu == fixture.api.grubTree().menus["grub/grub.cfg"], "the HTTP copy is the tree's text")
        for (number, (name, id)) in zip(["A", "B", "C"], ids).enumerated() {
            #expect(menu.contains("menuentry '\(number + 1). \(name) (linux,"))
            #expect(menu.contains("\tlinux /pxe-catalog/\(id)/kernel\n\tinitrd /pxe-catalog/\(id)/initrd\n"))
        }
        #expect(menu.contains("set default=local\n") && menu.contains("set timeout=10\n"))
        // The student (labels by MAC) and the kiosk (a rule by MAC) have files of their own.
        #expect(menu.contains("if [ \"$net_default_mac\" = '52:54:00:00:00:02' ]; then configfile /grub/host-52-54-00-00-00-02.cfg; fi\n"))
        #expect(menu.contains("if [ \"$net_default_mac\" = '52:54:00:00:00:03' ]; then configfile /grub/host-52-54-00-00-00-03.cfg; fi\n"))
        #expect(!menu.contains("52:54:00:00:00:01"), "the staff machine has no rule: the shared menu")

        let tree = fixture.api.grubTree()
        #expect(Set(tree.menus.keys) == ["grub/grub.cfg", "grub/host-52-54-00-00-00-02.cfg", "grub/host-52-54-00-00-00-03.cfg"])
        let student = try #require(tree.menus["grub/host-52-54-00-00-00-02.cfg"])
        #expect(student.contains("menuentry '1. B (") && !student.contains(". A (") && !student.contains(". C ("), "only the rule's entries")
        #expect(student.contains("set timeout=5\n") && student.contains("set default=entry1\n"))
        #expect(student.contains("linux /pxe-catalog/\(ids[1])/kernel 'exam=1'\n"), "the rule's command line")
        #expect(!student.contains("configfile"), "a machine's own menu sends nowhere else")
        let kiosk = try #require(tree.menus["grub/host-52-54-00-00-00-03.cfg"])
        #expect(kiosk.contains("set timeout=0\nset default=entry3\n"), "the kiosk boots C at once")
        // Every ready Linux entry's parts, in the boot cache.
        #expect(tree.parts.count == 6)
        #expect(tree.parts["pxe-catalog/\(ids[0])/kernel"].map { $0.key == String(repeating: "a", count: 32) && $0.file == "kernel" } == true)
    }

    @Test func aOneShotGetsAFileThatBootsItsEntryAndTheTreeFollowsToggles() throws {
        let (fixture, ids) = try fixture()
        #expect(fixture.call("POST", "/hosts/52:54:00:00:00:01/next-boot", body: #"{"entry": "\#(ids[1])"}"#).status == 200)
        let tree = fixture.api.grubTree()
        let own = try #require(tree.menus["grub/host-52-54-00-00-00-01.cfg"])
        #expect(own.contains("set timeout=0\nset default=entry2\n"))
        #expect(tree.menus["grub/grub.cfg"]?.contains("configfile /grub/host-52-54-00-00-00-01.cfg") == true)

        _ = fixture.call("POST", "/pxe/\(ids[0])/toggle", body: #"{"enabled": false}"#)
        let after = fixture.api.grubTree()
        #expect(after != tree)
        #expect(after.menus["grub/grub.cfg"]?.contains(ids[0]) == false, "a disabled entry leaves the menu")
        #expect(after.parts["pxe-catalog/\(ids[0])/kernel"] == nil, "and its parts leave the tree")
        #expect(fixture.call("DELETE", "/hosts/52:54:00:00:00:01/next-boot").status == 200)
        #expect(fixture.api.grubTree().menus["grub/host-52-54-00-00-00-01.cfg"] == nil, "cancelled: back to the shared menu")
    }
}
