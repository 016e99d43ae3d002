import PXEServer

ProcessTuning.apply()
PXECatalogCommand.main()
