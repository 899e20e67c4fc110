"""Reports from the public and the volunteer network (issue 17): sealed contact details, stripped photos, receipt
codes, abuse limits shared by every API process, a triage queue into incidents, network members by district."""
