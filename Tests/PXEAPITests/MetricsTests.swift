import Foundation
import PXEAPI
import PXECatalog
import TestSupport
import Testing

@Suite struct MetricsTests {
    /// Per-container series do not grow without bound: the download counter of an entry stays
    /// while its settings are kept (it may come back) and goes when they are forgotten.
    @Test func downloadSeriesOfForgottenEntriesAreDropped() {
        let clock = LockedBox(Date(timeIntervalSince1970: 1_800_000_000))
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A"), "b.rts.png": PNGFixtures.named("B")],
                                 forgetMissingAfter: 86_400, now: { clock.value })
        let a = fixture.id("a.rts.png"), b = fixture.id("b.rts.png")
        #expect(fixture.call("GET", "/containers/\(a)").status == 200)
        #expect(fixture.call("GET", "/containers/\(b)").status == 200)
        #expect(fixture.call("GET", "/metrics").bodyText.contains("pxe_catalog_downloads_total{id=\"\(b)\"} 1\n"))

        fixture.root.remove("b.rts.png")
        fixture.store.refresh()
        #expect(fixture.call("GET", "/metrics").bodyText.contains("pxe_catalog_downloads_total{id=\"\(b)\"} 1\n"), "kept while b may return")

        clock.value = clock.value.addingTimeInterval(86_400)
        fixture.store.refresh()
        let text = fixture.call("GET", "/metrics").bodyText
        #expect(!text.contains(b))
        #expect(text.contains("pxe_catalog_downloads_total{id=\"\(a)\"} 1\n"))
    }
}
