"""Documents Wadah writes: letters (PDF), the monthly report PDF, spreadsheets."""
