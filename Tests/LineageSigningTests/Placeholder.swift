import LineageSigning
import Testing
