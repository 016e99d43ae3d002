import Foundation
import PXEAPI
import PXECatalog
import PixelRTS
import StrictJSON
import TestSupport
import Testing

/// `/containers/{id}/kernel|initrd|disk|payload` in each state of the boot cache.
@Suite struct BootPartsEndpointTests {
    func fixture() -> (APIFixture, String) {
        let fixture = APIFixture(files: ["linux.rts.png": PNGFixtures.pixelRTS(parts: [("kernel", [1, 2, 3]), ("initrd", [4, 5])])])
        return (fixture, fixture.id("linux.rts.png"))
    }

    @Test(arguments: [BootStatus.State.pending, .preparing])
    func anEntryNotPreparedYetIs503WithRetryAfter(state: BootStatus.State) throws {
        let (fixture, id) = fixture()
        fixture.store.publishBoot([id: BootStatus(state: state)])
        let response = fixture.call("GET", "/containers/\(id)/kernel")
        #expect(response.status == 503)
        #expect(response.header("Retry-After") == "5")
        #expect(try JSONParser.parse(response.body)["error"]?.stringValue?.hasPrefix("Container \(id) is being prepared") == true)
    }

    @Test func anEntryThatFailedVerificationIs409WithTheReason() throws {
        let (fixture, id) = fixture()
        fixture.store.publishBoot([id: BootStatus(state: .failed, problem: "the payload's SHA-256 is 00, but the metadata's data_hash says 11")])
        let response = fixture.call("GET", "/containers/\(id)/initrd")
        #expect(response.status == 409)
        #expect(try JSONParser.parse(response.body)["error"] == .string("Container \(id) cannot be opened: the payload's SHA-256 is 00, but the metadata's data_hash says 11."))
    }

    @Test func anEntryThatIsNotPreparedIs503WithTheReason() throws {
        let (fixture, id) = fixture()
        fixture.store.publishBoot([id: BootStatus(state: .notPrepared, problem: "its parts need about 3.0 GB but the boot cache has 1.0 GB left")])
        let response = fixture.call("GET", "/containers/\(id)/kernel")
        #expect(response.status == 503)
        #expect(response.header("Retry-After") == "60")
        #expect(try JSONParser.parse(response.body)["error"]?.stringValue?.contains("its parts need about 3.0 GB") == true)
    }

    @Test func aReadyEntryRedirectsIntoTheCacheAndAnAbsentPartIs404() throws {
        let (fixture, id) = fixture()
        let key = "0123456789abcdef0123456789abcdef"
        fixture.store.publishBoot([id: BootStatus(state: .ready, kind: .linux, parts: [.kernel: 3, .initrd: 2, .payload: 5], cacheKey: key)])
        let kernel = fixture.call("GET", "/containers/\(id)/kernel")
        #expect(kernel.status == 200)
        #expect(kernel.header("X-Accel-Redirect") == "/_pxe_internal/cache/\(key)/kernel")
        #expect(kernel.header("Content-Type") == "application/octet-stream")
        #expect(kernel.header("Content-Disposition") == "attachment; filename=\"linux-kernel\"; filename*=UTF-8''linux-kernel")
        #expect(fixture.call("HEAD", "/containers/\(id)/payload").header("X-Accel-Redirect") == "/_pxe_internal/cache/\(key)/payload")
        let disk = fixture.call("GET", "/containers/\(id)/disk")
        #expect(disk.status == 404)
        #expect(try JSONParser.parse(disk.body)["error"] == .string("Container \(id) has no disk (it boots as linux)."))
        #expect(fixture.call("POST", "/containers/\(id)/kernel").status == 405)
    }

    /// Part answers are remembered per catalog and boot state: a new cache directory, a failed
    /// re-verification and a reloaded configuration must each show in the very next answer.
    @Test func aRememberedPartAnswerFollowsTheBootStateAndTheConfiguration() throws {
        let (fixture, id) = fixture()
        let first = "0123456789abcdef0123456789abcdef", second = "fedcba9876543210fedcba9876543210"
        fixture.store.publishBoot([id: BootStatus(state: .ready, kind: .linux, parts: [.kernel: 3, .initrd: 2], cacheKey: first)])
        for _ in 0..<2 { #expect(fixture.call("GET", "/containers/\(id)/initrd").header("X-Accel-Redirect") == "/_pxe_internal/cache/\(first)/initrd") }
        fixture.store.publishBoot([id: BootStatus(state: .ready, kind: .linux, parts: [.kernel: 3, .initrd: 2], cacheKey: second)])
        #expect(fixture.call("GET", "/containers/\(id)/initrd").header("X-Accel-Redirect") == "/_pxe_internal/cache/\(second)/initrd")
        fixture.store.publishBoot([id: BootStatus(state: .failed, problem: "the payload's SHA-256 is 00, but the metadata's data_hash says 11")])
        #expect(fixture.call("GET", "/containers/\(id)/initrd").status == 409)
        fixture.store.publishBoot([id: BootStatus(state: .ready, kind: .linux, parts: [.kernel: 3, .initrd: 2], cacheKey: second)])
        #expect(fixture.call("GET", "/containers/\(id)/initrd").status == 200)
        var context = fixture.api.context
        context.locations = InternalLocations(prefix: "/_elsewhere/", catalogRoots: context.locations.directories, filesRoot: context.locations.directories[0])
        fixture.api.replaceContext(context)
        #expect(fixture.call("GET", "/containers/\(id)/initrd").header("X-Accel-Redirect") == "/_elsewhere/cache/\(second)/initrd")
    }

    @Test func unknownIdsAndPartsAre404() {
        let (fixture, id) = fixture()
        #expect(fixture.call("GET", "/containers/ffffffffffff/kernel").status == 404)
        #expect(fixture.call("GET", "/containers/\(id)/bootloader").status == 404)
        #expect(fixture.call("GET", "/containers/\(id)/kernel/extra").status == 404)
        #expect(fixture.call("GET", "/containers/\(id)/").status == 404)
    }

    @Test func theListingCarriesTheBootObject() throws {
        let (fixture, id) = fixture()
        fixture.store.publishBoot([id: BootStatus(state: .ready, kind: .linux, parts: [.kernel: 3, .initrd: 2, .payload: 5],
                                                  cacheKey: "0123456789abcdef0123456789abcdef")])
        let boot = try JSONParser.parse(fixture.call("GET", "/containers").body)["containers"]?[0]?["boot"]
        #expect(boot?.serializedString() == #"{"kind":"linux","ready":true,"state":"ready","verified":true,"problem":null,"parts":{"kernel":{"size":3,"url":"/containers/\#(id)/kernel"},"initrd":{"size":2,"url":"/containers/\#(id)/initrd"},"payload":{"size":5,"url":"/containers/\#(id)/payload"}},"cmdline":null,"secure_boot":null,"secure_boot_signer":null}"#)
        let status = try JSONParser.parse(fixture.call("GET", "/status").body)["boot"]
        #expect(status?["ready"] == .int(1) && status?["pending"] == .int(0))
        #expect(fixture.call("GET", "/metrics").bodyText.contains("pxe_catalog_boot_entries{state=\"ready\"} 1\n"))
    }
}
