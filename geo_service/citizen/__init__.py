"""Reports from the public and the volunteer network (issue 17): sealed contact details, stripped photos, receipt
codes, abuse limits shared by every API process, a triage queue that turns reports into incident records, network members by district."""
