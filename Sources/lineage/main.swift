import LineageCLI

LineageMain.run()
