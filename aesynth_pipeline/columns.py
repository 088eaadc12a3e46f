"""Column names, defined once and shared by the domain code, the schemas and the tests."""

# The postcode directory, in the column names of doogal.co.uk's "London postcodes.csv".
POSTCODE = "Postcode"
IN_USE = "In Use?"
LSOA_NAME = "Lower layer super output area"
LSOA_CODE = "LSOA Code"
IMD_RANK = "Index of Multiple Deprivation"
DISTRICT = "District"

POSTCODE_DIRECTORY_COLUMNS = [POSTCODE, IN_USE, LSOA_NAME, LSOA_CODE, IMD_RANK, DISTRICT]

# The mock A&E attendances (raw zone).
ATTENDANCE_ID = "Attendance ID"
HEALTH_SERVICE_ID = "Health Service ID"
AGE = "Age"
TIME_IN_AE = "Time in A&E (mins)"
HOSPITAL = "Hospital"
ARRIVAL_TIME = "Arrival Time"
TREATMENT = "Treatment"
GENDER = "Gender"

ATTENDANCE_COLUMNS = [
    ATTENDANCE_ID,
    HEALTH_SERVICE_ID,
    AGE,
    TIME_IN_AE,
    HOSPITAL,
    ARRIVAL_TIME,
    TREATMENT,
    GENDER,
    POSTCODE,
]

# The attendances joined to the directory (raw zone): no NHS number, no postcode.
LSOA_JOINED_COLUMNS = [
    ATTENDANCE_ID,
    AGE,
    TIME_IN_AE,
    HOSPITAL,
    ARRIVAL_TIME,
    TREATMENT,
    GENDER,
    LSOA_NAME,
    IMD_RANK,
]

# Attendances the join could not place (raw zone), kept with the reason.
QUARANTINE_REASON = "Quarantine reason"
QUARANTINE_COLUMNS = [c for c in ATTENDANCE_COLUMNS if c != HEALTH_SERVICE_ID] + [QUARANTINE_REASON]

# The de-identified dataset: exactly these columns, in this order.
IMD_DECILE = "Index of Multiple Deprivation Decile"
HOSPITAL_ID = "Hospital ID"
ARRIVAL_DATE = "Arrival Date"
ARRIVAL_HOUR_RANGE = "Arrival hour range"
AGE_BRACKET = "Age bracket"

DEIDENTIFIED_COLUMNS = [
    TIME_IN_AE,
    TREATMENT,
    GENDER,
    IMD_DECILE,
    HOSPITAL_ID,
    ARRIVAL_DATE,
    ARRIVAL_HOUR_RANGE,
    AGE_BRACKET,
]

# Values that identify a patient directly; they never leave the raw zone.
DIRECT_IDENTIFIERS = frozenset(
    {HEALTH_SERVICE_ID, POSTCODE, HOSPITAL, ARRIVAL_TIME, AGE, ATTENDANCE_ID}
)
