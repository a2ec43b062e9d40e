package apiv3

// groupsUnfaked are the group, group type and transfer methods; fakeService does not fake them
// (calling one panics): their routes are tested against the real service layer over SQLite.
type groupsUnfaked interface {
	GroupTypeService
	GroupService
	TransferService
}
