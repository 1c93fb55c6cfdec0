module realprofiles

go 1.19
