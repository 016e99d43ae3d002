import PXECatalog
import PXESettings

extension CatalogState {
    /// Enabled, valid entries of the snapshot in boot order: what `/pxe` lists and the menus offer.
    func pxeEntries() -> [(CatalogEntry, PXESetting)] {
        snapshot.entries.compactMap { entry -> (CatalogEntry, PXESetting)? in
            guard entry.isValid, let setting = settings[entry.id], setting.enabled else { return nil }
            return (entry, setting)
        }.sorted { $0.1.bootOrder < $1.1.bootOrder }
    }
}
