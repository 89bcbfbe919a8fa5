// The safety flags page: for the clinic's on-call admin (escalated flags) and for clinicians.

import { displayName, requireUser } from "./api.js";
import { SafetyFlags } from "./safety-flags.js";
import "./topbar.js";
import { $ } from "./ui.js";

await requireUser("admin", "clinician");
new SafetyFlags($("#safety-flags"), { nameOf: (id) => displayName(id) }).start();
