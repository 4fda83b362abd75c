-- Contact persons of CRM accounts (personal data, GDPR), latest delivered version per contact.

with source as (

    -- the current state (raw.crm__contacts__current): the newest delivered version per key
    select * from {{ source('crm', 'contacts__current') }}

),

renamed as (

    select
        upper(trim(contact_id)) as contact_id,
        upper(trim(account_id)) as account_id,
        nullif(trim(salutation), '') as salutation,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        nullif(lower(trim(email)), '') as email,
        nullif(trim(phone), '') as phone,
        nullif(trim("position"), '') as job_title,
        modified_at as updated_at,
        _source_file as source_file,
        _batch_id as batch_id
    from source

)

select * from renamed
