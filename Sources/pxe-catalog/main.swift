#if canImport(Glibc)
import Glibc
#endif
import PXEServer

exit(CommandLineTool.main(CommandLine.arguments))
