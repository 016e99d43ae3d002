import Foundation
import PXECatalog
import TestSupport
import Testing

@Suite struct SettingsFileTests {
    let sample = PXESettings(byID: [
        "0123456789ab": PXESetting(enabled: false, bootOrder: 1, menuName: "Rescue \"quoted\"", menuDescription: nil),
        "00000000000f": PXESetting(enabled: true, bootOrder: 0),
    ])

    @Test func writesVersionedReadableJSON() throws {
        let directory = TemporaryDirectory()
        let file = SettingsFile(directory: directory.path)
        try file.save(sample)
        let text = try String(contentsOfFile: file.path, encoding: .utf8)
        #expect(text == """
        {
          "format": "pxe-catalog-settings",
          "version": 1,
          "entries": {
            "00000000000f": {
              "enabled": true,
              "boot_order": 0,
              "menu_name": null,
              "menu_description": null
            },
            "0123456789ab": {
              "enabled": false,
              "boot_order": 1,
              "menu_name": "Rescue \\"quoted\\"",
              "menu_description": null
            }
          }
        }

        """)
        #expect(try file.load() == (sample, .primary))
    }

    @Test func missingFileMeansAFreshInstall() throws {
        #expect(try SettingsFile(directory: TemporaryDirectory().path).load() == (PXESettings(), .fresh))
    }

    @Test func keepsThePreviousVersionAsBackupAndLeavesNoTemporaryFiles() throws {
        let directory = TemporaryDirectory()
        let file = SettingsFile(directory: directory.path)
        try file.save(PXESettings(byID: ["00000000000f": PXESetting(bootOrder: 0)]))
        let first = try Data(contentsOf: URL(fileURLWithPath: file.path))
        try file.save(sample)
        #expect(try Data(contentsOf: URL(fileURLWithPath: file.backupPath)) == first)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["settings.json", "settings.json.bak"])
    }

    @Test(arguments: ["", "{", "[]", #"{"format":"other","version":1,"entries":{}}"#,
                      #"{"format":"pxe-catalog-settings","version":1,"entries":{"xyz":{"enabled":true,"boot_order":0}}}"#,
                      #"{"format":"pxe-catalog-settings","version":1,"entries":{"0123456789ab":{"enabled":1,"boot_order":0}}}"#])
    func fallsBackToTheBackupWhenThePrimaryIsCorrupt(_ corrupt: String) throws {
        let directory = TemporaryDirectory()
        let file = SettingsFile(directory: directory.path)
        try file.save(PXESettings(byID: ["00000000000f": PXESetting(bootOrder: 0)]))
        try file.save(sample)
        try corrupt.write(toFile: file.path, atomically: false, encoding: .utf8)
        let (settings, outcome) = try file.load()
        #expect(settings == PXESettings(byID: ["00000000000f": PXESetting(bootOrder: 0)]))
        guard case let .backup(reason) = outcome else { Issue.record("expected the backup, got \(outcome)"); return }
        #expect(reason.contains(file.path))
    }

    @Test func refusesToLoadWhenPrimaryAndBackupAreBothBad() throws {
        let directory = TemporaryDirectory()
        let file = SettingsFile(directory: directory.path)
        try "{garbage".write(toFile: file.path, atomically: false, encoding: .utf8)
        try "".write(toFile: file.backupPath, atomically: false, encoding: .utf8)
        #expect { try file.load() } throws: { error in
            let text = (error as? SettingsLoadError)?.description ?? ""
            return text.contains(file.path) && text.contains(file.backupPath)
        }
    }

    @Test func refusesAFileFromANewerVersion() throws {
        let directory = TemporaryDirectory()
        let file = SettingsFile(directory: directory.path)
        try #"{"format":"pxe-catalog-settings","version":2,"entries":{}}"#.write(toFile: file.path, atomically: false, encoding: .utf8)
        #expect { try file.load() } throws: { error in
            (error as? SettingsLoadError)?.description.contains("version 2") == true
        }
    }

    @Test func aFailedWriteThrowsAndChangesNothingInTheStore() throws {
        let root = TemporaryDirectory()
        root.write(PNGFixtures.png(), to: "a.rts.png")
        let store = CatalogStore(scanner: CatalogScanner(roots: [root.path]),
                                 persistence: SettingsFile(directory: root.path + "/no-such-directory"))
        store.refresh()
        let id = CatalogEntry.id(forRealPath: root.path + "/a.rts.png")
        let before = store.current.settings
        #expect(throws: CatalogStoreError.self) { try store.setEnabled(false, id: id) }
        #expect(store.current.settings == before)
    }

    @Test func concurrentChangesAreAllSavedAndNoneLost() async throws {
        let root = TemporaryDirectory()
        for i in 0..<12 { root.write(PNGFixtures.png(), to: "c\(i).rts.png") }
        let state = TemporaryDirectory()
        let file = SettingsFile(directory: state.path)
        let store = CatalogStore(scanner: CatalogScanner(roots: [root.path]), persistence: file)
        store.refresh()
        let ids = store.current.snapshot.entries.map(\.id)
        await withTaskGroup(of: Void.self) { group in
            for (index, id) in ids.enumerated() {
                group.addTask { _ = try? store.setEnabled(index % 2 == 0, id: id) }
                group.addTask { _ = try? store.updateMenu(id: id, name: .set("menu \(index)")) }
                if index % 4 == 0 { group.addTask { store.refresh() } }
            }
        }
        let (saved, _) = try file.load()
        #expect(saved == store.current.settings)
        for (index, id) in ids.enumerated() {
            #expect(saved[id]?.enabled == (index % 2 == 0))
            #expect(saved[id]?.menuName == "menu \(index)")
        }
    }
}

extension PXESettings: CustomStringConvertible {
    public var description: String { "\(byID)" }
}
